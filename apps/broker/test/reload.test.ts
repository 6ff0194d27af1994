// SIGHUP under a running culex: the password file, ACL file and TLS certificate/key are
// read again without dropping a connection; a file that does not load keeps the old one.
import t from 'tap'
import { startCulex, tempDir, hasBinary } from './helpers/culex.ts'
import { reloadFiles, reloadSuite } from './helpers/reload-suite.ts'

if (!hasBinary('openssl')) {
  t.plan(0, 'openssl is not installed: no TLS material')
} else {
  const files = reloadFiles(tempDir(t))
  const culex = await startCulex(t, files.args)
  reloadSuite(t, culex, files, () => { culex.proc.kill('SIGHUP') }, () => culex.proc.exitCode === null && culex.proc.signalCode === null)
}
