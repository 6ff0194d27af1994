import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

// index: the codec; record: the store record format (`@culex/packet/record`)
export default defineConfig(config({ entry: ['src/index.ts', 'src/record.ts'] }))
