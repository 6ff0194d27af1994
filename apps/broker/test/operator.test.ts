// The operator listener's suite against startServer in this process (see http.test.ts for
// the same suite against the real culex process).
import t from 'tap'
import { tempDir } from './helpers/culex.ts'
import { startInProcess } from './helpers/in-process.ts'
import { operatorArgs, operatorSuite } from './helpers/operator-suite.ts'

const dir = tempDir(t)
const target = await startInProcess(t, operatorArgs(dir), dir)
operatorSuite(t, target)
