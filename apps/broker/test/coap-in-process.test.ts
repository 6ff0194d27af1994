// The CoAP gateway's suite against startServer in this process (see coap.test.ts for the
// same suite against the real culex process), and the --coap-host check of the config.
import t from 'tap'
import { tempDir } from './helpers/culex.ts'
import { startInProcess } from './helpers/in-process.ts'
import { coapSuite } from './helpers/coap-suite.ts'
import { loadConfig } from '../src/config.ts'

await coapSuite(t, async (t, args) => {
  const target = await startInProcess(t, args, tempDir(t))
  return { ports: target.ports, logs: target.logs, reload: () => { target.server.reload() }, alive: () => true }
})

t.test('config: the CoAP gateway is off by default; --coap-host off loopback needs --acl-file or --allow-anonymous', async (t) => {
  const run = (argv: string[]): ReturnType<typeof loadConfig> => loadConfig({ argv, env: {}, cwd: '/tmp' })
  const off = run([])
  t.equal(off.action === 'run' ? off.config.coap : 'x', undefined, 'off')
  const on = run(['--coap-port', '5683', '--coap-username', 'dev'])
  t.same(on.action === 'run' ? on.config.coap : undefined, { port: 5683, hosts: ['127.0.0.1', '::1'], defaultHosts: true, username: 'dev' })
  t.throws(() => run(['--coap-port', '0', '--coap-host', '0.0.0.0']), { code: 'CULEX_ERR_INSECURE' })
  const acl = run(['--coap-port', '0', '--coap-host', '0.0.0.0', '--acl-file', 'acl'])
  t.same(acl.action === 'run' ? acl.config.coap?.hosts : undefined, ['0.0.0.0'], 'with an ACL file')
  const anon = run(['--coap-port', '0', '--coap-host', '0.0.0.0', '--allow-anonymous', '--host', '0.0.0.0'])
  t.equal(anon.action === 'run' ? anon.config.coap?.defaultHosts : undefined, false, 'with --allow-anonymous')
  t.throws(() => run(['--coap-port', '70000']), { code: 'CULEX_ERR_INVALID_OPTION' })
})
