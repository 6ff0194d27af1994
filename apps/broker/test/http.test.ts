// The operator HTTP listener of the real culex process: health, readiness, Prometheus
// metrics (checked by promtool), the Ponte-style REST API, the admin API, each refusal
// (401, 403, 400, 404, 405, 413) over real HTTP, and the client log lines.
import t from 'tap'
import { startCulex, tempDir } from './helpers/culex.ts'
import { operatorArgs, operatorSuite } from './helpers/operator-suite.ts'

const culex = await startCulex(t, operatorArgs(tempDir(t)))
operatorSuite(t, culex)
