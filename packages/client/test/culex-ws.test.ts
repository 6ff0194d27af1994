import { runCulexSuite } from './helpers/culex-suite.ts'

runCulexSuite('ws')
