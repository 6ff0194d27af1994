import { defineConfig } from 'tsup'
import { config } from '../../tsup.base.ts'

export default defineConfig(config())
