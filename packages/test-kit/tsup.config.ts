import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

// tap is the caller's: only its types are used here
export default defineConfig(config({ external: ['tap'] }))
