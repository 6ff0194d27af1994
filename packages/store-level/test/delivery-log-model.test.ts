import t from 'tap'
import { join } from 'node:path'
import { deliveryLogModelSuite } from '@culex/store-suite/e2e'
import { LevelStore } from '../src/index.ts'

// 25 generated runs of up to 60 commands each, twice: about 10 s alone, longer on a loaded
// machine, so this file gets more than tap's default 30 s
t.setTimeout(120_000)

const open = (dir: string): LevelStore => new LevelStore({ path: join(dir, 'data') })

// the broker's delivery logs on LevelDB that answers late and crashes (fast-check commands);
// the writes issued together land together, as LevelStore's group commit writes them
deliveryLogModelSuite(t, { name: 'LevelStore', open })

// a crash between any two writes: an inbound QoS 2 message is routed (the subscriber's
// record written) before its packet id is recorded as received, in two writes; a crash
// between them, and the publisher's resend is routed again: delivered twice
deliveryLogModelSuite(t, {
  name: 'LevelStore',
  open,
  strict: true,
  todo: 'an inbound QoS 2 message and its received packet id are two store writes: a crash between them delivers the resend twice'
})
