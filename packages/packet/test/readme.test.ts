/**
 * The README's example, run as written, and the README's errors table checked against the
 * exported codes (both directions, with reason codes).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { registryFrom } from '@culex/errors'
import { checkErrorTable } from '@culex/errors/readme-table'
import { Parser, encode, PacketErrorCodes, PacketError } from '../src/index.ts'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

t.test('the README example', async (t) => {
  const logs: string[] = []
  const errors: PacketError[] = []
  // ── README "Example", with console.log captured ──
  const parser = new Parser({
    onPacket (packet) {
      if (packet.cmd === 'publish') logs.push(`${packet.topic} ${packet.payload.toString()}`)
    },
    onError (err) {
      errors.push(err)
    }
  })

  const bytes = encode({ cmd: 'publish', topic: 'hello/world', payload: Buffer.from('hi'), qos: 0, dup: false, retain: false }, 4)
  parser.parse(bytes.subarray(0, 3)) // chunks may be cut anywhere
  parser.parse(bytes.subarray(3)) // logs: hello/world hi
  // ──
  t.same(logs, ['hello/world hi'])
  t.same(errors, [])
  t.ok(readme.includes("const bytes = encode({ cmd: 'publish', topic: 'hello/world', payload: Buffer.from('hi'), qos: 0, dup: false, retain: false }, 4)"), 'the example in the README is this one')
})

t.test('README errors table lists every exported code, with its reason code', async (t) => {
  checkErrorTable(t, readme, PacketError.registry)
  t.same(PacketError.registry, registryFrom(PacketErrorCodes), 'the registry is PacketErrorCodes')
})
