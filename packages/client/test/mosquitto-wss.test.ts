import { runMosquittoSuite } from './helpers/mosquitto-suite.ts'

runMosquittoSuite('wss')
