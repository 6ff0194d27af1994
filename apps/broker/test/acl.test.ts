import t from 'tap'
import fc from 'fast-check'
import { parseAcl, Acl } from '../src/acl.ts'
import { filterMatches, filterCovers, isValidFilter } from '../src/topic-match.ts'
import { isAppError } from '../src/errors.ts'

t.test('filterMatches', async t => {
  const rows: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true], ['a/+', 'a/b', true], ['a/+', 'a/b/c', false], ['a/#', 'a', true],
    ['a/#', 'a/b/c', true], ['#', 'a', true], ['+/+', 'a/b', true], ['+', '', true],
    ['a/b', 'a', false], ['a', 'a/b', false], ['+/b', '/b', true], ['a/+/c', 'a//c', true]
  ]
  for (const [f, topic, want] of rows) t.equal(filterMatches(f, topic), want, `${f} ~ ${topic}`)
})

t.test('filterCovers', async t => {
  const rows: Array<[string, string, boolean]> = [
    ['#', '#', true], ['#', 'a/+/b', true], ['a/#', 'a', true], ['a/#', 'a/#', true], ['a/#', '#', false],
    ['a/+', 'a/b', true], ['a/+', 'a/+', true], ['a/+', 'a/#', false], ['a/b', 'a/+', false],
    ['a/b', 'a/b', true], ['a/+/c', 'a/x/c', true], ['a', 'a/b', false], ['a/b', 'a', false]
  ]
  for (const [acl, sub, want] of rows) t.equal(filterCovers(acl, sub), want, `${acl} covers ${sub}`)
  t.ok(isValidFilter('a/+/#') && !isValidFilter('a/#/b') && !isValidFilter('a+') && !isValidFilter('') && !isValidFilter('a/b#'))
})

const FILE = `# anonymous clients
topic read public/#
topic write public/in

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic $SYS/#

user bob
topic write bob/in
  topic   read   bob/out

pattern readwrite clients/%c/#
pattern read users/%u/#
pattern deny clients/%c/locked
`

t.test('ACL file semantics (mosquitto 2.0)', async t => {
  const acl = new Acl(parseAcl(FILE, 'acl'))
  const anon = { clientId: 'c1', username: undefined }
  const alice = { clientId: 'a1', username: 'alice' }
  const bob = { clientId: 'b1', username: 'bob' }
  const carol = { clientId: 'k1', username: 'carol' }
  const rows: Array<[string, boolean, boolean]> = [
    // [description, got, want]
    ['anon reads public/x', acl.canRead(anon, 'public/x'), true],
    ['anon cannot write public/x', acl.canWrite(anon, 'public/x'), false],
    ['anon writes public/in', acl.canWrite(anon, 'public/in'), true],
    ['anon cannot read alice/x', acl.canRead(anon, 'alice/x'), false],
    ['alice reads and writes alice/x', acl.canRead(alice, 'alice/x') && acl.canWrite(alice, 'alice/x'), true],
    ['deny beats a grant listed before it', acl.canRead(alice, 'alice/secret/k'), false],
    ['alice default readwrite on $SYS', acl.canRead(alice, '$SYS/broker/uptime'), true],
    ['alice does not get public rules', acl.canRead(alice, 'public/x'), false],
    ['bob writes bob/in, not bob/out', acl.canWrite(bob, 'bob/in') && !acl.canWrite(bob, 'bob/out'), true],
    ['bob reads bob/out (extra spaces)', acl.canRead(bob, 'bob/out'), true],
    ['%c pattern', acl.canWrite(bob, 'clients/b1/x'), true],
    ['%c of another client', acl.canWrite(bob, 'clients/zz/x'), false],
    ['%u pattern for a user without own rules', acl.canRead(carol, 'users/carol/x'), true],
    ['%u pattern is read only', acl.canWrite(carol, 'users/carol/x'), false],
    ['%u pattern skipped for anonymous', acl.canRead(anon, 'users//x'), false],
    ['pattern deny first', acl.canWrite({ clientId: 'k1', username: 'carol' }, 'clients/k1/locked'), false],
    ['wildcard in client id refused by patterns', acl.canWrite({ clientId: '+', username: 'carol' }, 'clients/+/x'), false],
    ['wildcard in username refused by patterns', acl.canRead({ clientId: 'x', username: '#' }, 'users/#/x'), false],
    ['# rule does not match $ topics', new Acl(parseAcl('topic #\n', 'a')).canRead(anon, '$SYS/x'), false],
    ['pattern without $ does not match $ topics', new Acl(parseAcl('pattern %c/#\n', 'a')).canRead({ clientId: '$x', username: undefined }, '$x/y'), true],
    ['no ACL file allows all', new Acl().canWrite(anon, 'any/thing') && new Acl().canSubscribe(anon, '#'), true]
  ]
  for (const [name, got, want] of rows) t.equal(got, want, name)
})

t.test('SUBSCRIBE checks', async t => {
  const acl = new Acl(parseAcl(FILE, 'acl'))
  const alice = { clientId: 'a1', username: 'alice' }
  t.ok(acl.canSubscribe(alice, 'alice/#'))
  t.ok(acl.canSubscribe(alice, 'alice/+/x'))
  t.notOk(acl.canSubscribe(alice, 'alice/secret/#'), 'covered by a deny')
  t.notOk(acl.canSubscribe(alice, '#'), 'not covered by any read rule')
  t.ok(acl.canSubscribe(alice, '$share/g/alice/x'), '$share prefix removed')
  t.notOk(acl.canSubscribe(alice, '$share/g/bob/x'))
  t.notOk(acl.canSubscribe({ clientId: 'b1', username: 'bob' }, 'bob/in'), 'write-only is not subscribable')
  const broad = new Acl(parseAcl('topic read #\ntopic deny secret/#\n', 'a'))
  const anon = { clientId: 'x', username: undefined }
  t.ok(broad.canSubscribe(anon, '#'), '# granted')
  t.notOk(broad.canRead(anon, 'secret/a'), 'but a denied topic is not delivered')
  t.notOk(broad.canSubscribe(anon, 'secret/+'))
})

t.test('ACL file errors', async t => {
  const rows: Array<[string, string]> = [
    ['unknown keyword', 'topik read a\n'],
    ['user without name', 'user\n'],
    ['topic without filter', 'topic\n'],
    ['bad access', 'topic rw a/b\n'],
    ['bad filter', 'topic read a/#/b\n'],
    ['indented comment', '  # x\n']
  ]
  for (const [name, text] of rows) {
    try {
      parseAcl(text, 'acl')
      t.fail(name)
    } catch (err) {
      t.ok(isAppError(err) && err.code === 'CULEX_ERR_ACL_FILE' && /acl line 1/.test(err.message), name)
    }
  }
  const r = parseAcl('topic a\ntopic deny b\n', 'x')
  t.same(r.anonymous.map(x => [x.access, x.filter]), [['deny', 'b'], ['readwrite', 'a']], 'deny moved first, default readwrite')
})

t.test('canReadFilter holds only for filters every topic of which may be read (random ACLs, fast-check)', async (t) => {
  const FILTERS = ['#', 'a/#', 'a/+', 'a/b', 'a/b/#', 'a/+/c', '+/b', '$s/#', '$s/x', 'c/#', '%c/#', 'u/%u/#', '+']
  const TOPICS = ['a', 'a/b', 'a/c', 'a/b/c', 'a/x/c', 'b', 'x/b', '$s/x', '$s/y', 'c/d', 'c1/z', 'u/alice/m', 'u/bob/m', '']
  const access = fc.constantFrom('read', 'write', 'readwrite', 'deny')
  const line = (kind: string): fc.Arbitrary<string> => fc.tuple(access, fc.constantFrom(...FILTERS)).map(([a, f]) => `${kind} ${a} ${f}`)
  const file = fc.tuple(fc.array(line('topic'), { maxLength: 3 }), fc.array(line('topic'), { maxLength: 4 }), fc.array(line('pattern'), { maxLength: 3 }))
    .map(([anon, alice, patterns]) => [...anon.filter((l) => !l.includes('%')), 'user alice', ...alice.filter((l) => !l.includes('%')), ...patterns].join('\n') + '\n')
  const who = fc.constantFrom({ clientId: 'c1', username: 'alice' }, { clientId: 'c1', username: undefined }, { clientId: 'c+', username: 'alice' })
  const subFilter = fc.constantFrom('#', 'a/#', 'a/+', 'a/b', 'a/b/#', '+/b', '$s/#', 'c1/#', 'u/alice/#', '$share/g/a/#')
  let held = 0
  fc.assert(fc.property(file, who, subFilter, (text, w, filter) => {
    const acl = new Acl(parseAcl(text, 'acl'))
    if (!acl.canReadFilter(w, filter)) return
    held++
    const f = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter
    for (const topic of TOPICS) {
      // what the engine would deliver on this subscription: a leading wildcard never matches `$` topics
      if (!filterMatches(f, topic) || (topic.startsWith('$') && (f.startsWith('+') || f.startsWith('#')))) continue
      if (!acl.canRead(w, topic)) throw new Error(`${filter} said readable for ${JSON.stringify(w)}, but ${topic} is not:\n${text}`)
    }
  }), { numRuns: 3000, seed: 7 })
  t.ok(held > 100, `the property held for ${held} readable filters`)
})
