import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { checkErrorTable } from '@culex/errors/readme-table'
import { TrieError, TrieErrorCodes } from '../src/index.ts'

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
const src = pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href

t.test('every TypeScript example in the README runs', async t => {
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map(m => m[1] as string)
    .filter(code => code.includes("from '@culex/trie'"))
  t.ok(blocks.length >= 2, 'found the examples')
  const dir = t.testdir()
  for (let i = 0; i < blocks.length; i++) {
    const file = join(dir, `example-${i}.ts`)
    writeFileSync(file, (blocks[i] as string).replaceAll("from '@culex/trie'", `from '${src}'`))
    // each example asserts its own results with node:assert
    await t.resolves(import(pathToFileURL(file).href), `example ${i} ran`)
  }
})

t.test('the README errors table lists exactly the registry codes', async t => {
  checkErrorTable(t, readme, TrieError.registry)
  t.same(Object.keys(TrieError.registry).sort(), Object.values(TrieErrorCodes).sort(), 'the registry is TrieErrorCodes')
})
