import t from 'tap'
import { hello } from '../src/index.ts'
t.equal(hello(), 'hi')
