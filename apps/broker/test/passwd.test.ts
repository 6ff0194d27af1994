import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pbkdf2Sync, createHash } from 'node:crypto'
import { hashPassword, verifyPassword, parseHash, parsePasswordFile, formatPasswordFile, PasswordDb, DEFAULT_ITERATIONS } from '../src/passwd.ts'
import { runPasswd, defaultPasswdIo, type PasswdIo } from '../src/passwd-command.ts'
import { isAppError } from '../src/errors.ts'
import { missing } from '@culex/test-kit'

t.test('$7$ hash equals an independent PBKDF2-SHA512 computation', async t => {
  const salt = Buffer.from('0123456789ab')
  const h = hashPassword('secret', { salt })
  const expected = pbkdf2Sync('secret', salt, 101, 64, 'sha512').toString('base64')
  t.equal(h, `$7$101$${salt.toString('base64')}$${expected}`)
  t.equal(DEFAULT_ITERATIONS, 101)
  t.ok(verifyPassword('secret', h))
  t.notOk(verifyPassword('Secret', h))
  t.match(hashPassword('x'), /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/, 'random 12-byte salt, 64-byte key')
  t.match(hashPassword('x', { iterations: 1000 }), /^\$7\$1000\$/)
})

t.test('$6$ hash equals an independent SHA512(password || salt)', async t => {
  const salt = Buffer.from('saltsaltsalt')
  const h = hashPassword('pw', { algorithm: 'sha512', salt })
  t.equal(h, `$6$${salt.toString('base64')}$${createHash('sha512').update('pw').update(salt).digest('base64')}`)
  t.ok(verifyPassword('pw', h))
  t.ok(verifyPassword(Buffer.from('pw'), h))
  t.notOk(verifyPassword('pW', h))
})

t.test('known mosquitto_passwd 2.0.11 hashes verify', async t => {
  // Produced by `mosquitto_passwd -b` (2.0.11) on this machine type, kept as fixtures.
  t.ok(verifyPassword('secret', '$7$101$y2e5vjC6DZSlPN5S$05TUFd8j1DUEjT/nCRfyntJdr9HgyS6i4xGjmCjToyw0w50DHU3+0fTZL5gW6ZzJtyQL6mqEpZmivZeyzXWVmA=='))
  t.ok(verifyPassword('pw', '$6$d8v5/lGpIEfXhcJi$Bdg2ZcRKcgBouxmBrsK5jlmSTsJRD/020aXS+4dzjCbiLN7koEo1gIwQXbs/BKRLFz/thN9O49JBs7JtPB+JYw=='))
})

t.test('parseHash rejects what is not $6$/$7$', async t => {
  for (const bad of ['', 'plain', '$5$a$b', '$6$a', '$7$0$a$b', '$7$x$a$b', '$6$!!$b', '$7$101$a$b$c', 'x$6$a$b']) {
    t.equal(parseHash(bad), null, JSON.stringify(bad))
  }
  t.notOk(verifyPassword('x', 'garbage'))
  t.notOk(verifyPassword('x', '$6$YQ==$'), 'empty hash never verifies')
})

t.test('password file parsing', async t => {
  const text = '# comment\nalice:' + hashPassword('a') + '\r\n\nbob:' + hashPassword('b', { algorithm: 'sha512' }) + '\n'
  const entries = parsePasswordFile(text, 'pw')
  t.same(entries.map(e => e.username), ['alice', 'bob'])
  t.equal(formatPasswordFile(entries), entries.map(e => `${e.username}:${e.hash}\n`).join(''))
  const db = new PasswordDb(entries)
  t.equal(db.size, 2)
  t.ok(db.check('alice', 'a'))
  t.ok(db.check('bob', Buffer.from('b')))
  t.notOk(db.check('alice', 'b'))
  t.notOk(db.check('carol', 'a'))
  t.notOk(db.check('alice', undefined))
  for (const [name, bad] of [['no colon', 'alice\n'], ['empty user', ':$7$1$a$b\n'], ['plain text', 'alice:secret\n']]) {
    try {
      parsePasswordFile(bad as string, 'pw')
      t.fail(name as string)
    } catch (err) {
      t.ok(isAppError(err) && err.code === 'CULEX_ERR_PASSWORD_FILE' && /line 1/.test(err.message), name as string)
    }
  }
  t.same(parsePasswordFile('alice:secret\n', 'pw', false), [{ username: 'alice', hash: 'secret' }])
})

function memIo (files: Record<string, string>, answers: string[] = []): PasswdIo & { created: string[] } {
  const created: string[] = []
  return {
    created,
    readFile: p => { const f = files[p]; if (f === undefined) throw Object.assign(new Error('x'), { code: 'ENOENT' }); return f },
    writeFile: (p, text, create) => { files[p] = text; if (create) created.push(p) },
    exists: p => p in files,
    prompt: async () => answers.shift() ?? '',
    out: () => {}
  }
}

t.test('culex passwd: create, add, update, delete, upgrade', async t => {
  const files: Record<string, string> = {}
  const io = memIo(files)
  await runPasswd(['-c', '-b', 'pw', 'alice', 'one'], io)
  t.same(io.created, ['pw'])
  await runPasswd(['-b', 'pw', 'bob', 'two'], io)
  await runPasswd(['-b', 'pw', 'alice', 'three'], io)
  let db = new PasswordDb(parsePasswordFile(files.pw as string, 'pw'))
  t.ok(db.check('alice', 'three'), 'updated')
  t.ok(db.check('bob', 'two'), 'added')
  t.same(parsePasswordFile(files.pw as string, 'pw').map(e => e.username), ['alice', 'bob'], 'order kept')
  await runPasswd(['-D', 'pw', 'alice'], io)
  t.same(parsePasswordFile(files.pw as string, 'pw').map(e => e.username), ['bob'])
  await runPasswd(['-H', 'sha512', '-b', 'pw', 'carol', 'c'], io)
  t.match(files.pw, /carol:\$6\$/)
  files.plain = 'dave:pass1\nerin:' + hashPassword('e') + '\n'
  await runPasswd(['-U', 'plain'], io)
  db = new PasswordDb(parsePasswordFile(files.plain, 'plain'))
  t.ok(db.check('dave', 'pass1') && db.check('erin', 'e'), 'plain hashed, hashed kept')
  const prompted = memIo(files, ['pp', 'pp'])
  await runPasswd(['pw', 'frank'], prompted)
  t.ok(new PasswordDb(parsePasswordFile(files.pw as string, 'pw')).check('frank', 'pp'), 'prompted password')
})

t.test('culex passwd: usage errors', async t => {
  const files: Record<string, string> = { pw: 'a:' + hashPassword('x') + '\n' }
  const rows: Array<[string, string[], string, string[]?]> = [
    ['no args', [], 'CULEX_ERR_USAGE'],
    ['-c and -D', ['-c', '-D', 'pw', 'a'], 'CULEX_ERR_USAGE'],
    ['unknown option', ['-Z', 'pw', 'a'], 'CULEX_ERR_USAGE'],
    ['bad -H', ['-H', 'md5', 'pw', 'a'], 'CULEX_ERR_USAGE'],
    ['-b missing password', ['-b', 'pw', 'a'], 'CULEX_ERR_USAGE'],
    ['colon in username', ['-b', 'pw', 'a:b', 'x'], 'CULEX_ERR_USAGE'],
    ['empty username', ['-b', 'pw', '', 'x'], 'CULEX_ERR_USAGE'],
    ['-U with -b', ['-U', '-b', 'pw'], 'CULEX_ERR_USAGE'],
    ['-D without user', ['-D', 'pw'], 'CULEX_ERR_USAGE'],
    ['missing file', ['-b', 'nofile', 'a', 'x'], 'CULEX_ERR_PASSWORD_FILE'],
    ['-U missing file', ['-U', 'nofile'], 'CULEX_ERR_PASSWORD_FILE'],
    ['delete unknown user', ['-D', 'pw', 'zz'], 'CULEX_ERR_PASSWORD_FILE'],
    ['mismatched prompt', ['pw', 'b'], 'CULEX_ERR_USAGE', ['one', 'two']]
  ]
  for (const [name, args, code, answers] of rows) {
    await t.rejects(runPasswd(args, memIo(files, answers ?? [])), { code }, name)
  }
})

t.test('culex passwd on disk and interop with mosquitto_passwd', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-pw-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'pw')
  const io = defaultPasswdIo()
  await runPasswd(['-c', '-b', file, 'alice', 's3cret'], io)
  t.equal(statSync(file).mode & 0o777, 0o600, 'created with mode 0600')
  t.ok(new PasswordDb(parsePasswordFile(readFileSync(file, 'utf8'), file)).check('alice', 's3cret'))
  const noMosqPasswd = missing('mosquitto_passwd')
  if (noMosqPasswd !== false) {
    t.test('cross-checks against mosquitto_passwd', { skip: noMosqPasswd }, () => {})
    return
  }
  // mosquitto_passwd adds to our file; we verify its hash, it keeps ours.
  execFileSync('mosquitto_passwd', ['-b', file, 'bob', 'b0b'])
  execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'carol', 'c'])
  const db = new PasswordDb(parsePasswordFile(readFileSync(file, 'utf8'), file))
  t.ok(db.check('alice', 's3cret'), 'our hash survives mosquitto_passwd rewriting the file')
  t.ok(db.check('bob', 'b0b'), 'mosquitto_passwd $7$ verifies')
  t.ok(db.check('carol', 'c'), 'mosquitto_passwd $6$ verifies')
  const plain = join(dir, 'plain')
  writeFileSync(plain, 'dave:d4ve\n')
  execFileSync('mosquitto_passwd', ['-U', plain])
  t.ok(new PasswordDb(parsePasswordFile(readFileSync(plain, 'utf8'), plain)).check('dave', 'd4ve'), 'mosquitto_passwd -U output verifies')
  t.ok(existsSync(file))
})
