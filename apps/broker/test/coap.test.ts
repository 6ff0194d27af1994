// The CoAP gateway of the real culex process (the suite is in helpers/coap-suite.ts), and
// the refusal of a non-loopback --coap-host without an ACL.
import t from 'tap'
import { startCulex, runCulex } from './helpers/culex.ts'
import { coapSuite } from './helpers/coap-suite.ts'

await coapSuite(t, async (t, args) => {
  const c = await startCulex(t, args)
  return { ports: c.ports, logs: c.logs, reload: () => { c.proc.kill('SIGHUP') }, alive: () => c.proc.exitCode === null && c.proc.signalCode === null }
})

t.test('--coap-host off loopback needs --acl-file or --allow-anonymous', async (t) => {
  const r = await runCulex(['--port', '0', '--store', 'memory', '--coap-port', '0', '--coap-host', '0.0.0.0'])
  t.equal(r.code, 2, 'CULEX_ERR_INSECURE')
  t.match(r.stderr + r.stdout, /--coap-host/)
})
