// The reload suite against startServer in this process: server.reload() is what SIGHUP calls.
import t from 'tap'
import { tempDir, hasBinary } from './helpers/culex.ts'
import { startInProcess } from './helpers/in-process.ts'
import { reloadFiles, reloadSuite } from './helpers/reload-suite.ts'

if (!hasBinary('openssl')) {
  t.plan(0, 'openssl is not installed: no TLS material')
} else {
  const dir = tempDir(t)
  const files = reloadFiles(dir)
  const target = await startInProcess(t, files.args, dir)
  reloadSuite(t, target, files, () => { target.server.reload() }, () => !target.server.broker.closed)
}
