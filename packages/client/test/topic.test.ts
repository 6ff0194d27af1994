import t from 'tap'
import { checkTopicFilter, checkTopicName } from '../src/topic.ts'
import { matchTopic } from '../src/index.ts'

t.test('matchTopic follows MQTT wildcard rules [MQTT-4.7]', async (t) => {
  const rows: Array<[string, string, boolean]> = [
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+', '/', false],
    ['+/+', '/', true],
    ['+/b', 'x/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/b/c', 'a/b', false],
    ['a', 'ab', false],
    ['a/#', 'ab', false]
  ]
  for (const [f, topic, want] of rows) t.equal(matchTopic(f, topic), want, `${f} vs ${topic}`)
})

t.test('checkTopicName rejects wildcards, empty and NUL', async (t) => {
  t.equal(checkTopicName('a/b'), undefined)
  t.match(checkTopicName(''), /empty/)
  t.match(checkTopicName('a/+'), /wildcard/)
  t.match(checkTopicName('a\u0000'), /U\+0000/)
  t.match(checkTopicName(3 as unknown as string), /string/)
})

t.test('checkTopicFilter validates wildcard placement [MQTT-4.7.1-2]', async (t) => {
  for (const ok of ['a/+/c', '#', 'a/#', '+', '$share/g/a/#']) t.equal(checkTopicFilter(ok), undefined, ok)
  t.match(checkTopicFilter(''), /empty/)
  t.match(checkTopicFilter('a/b#'), /whole level/)
  t.match(checkTopicFilter('a+/b'), /whole level/)
  t.match(checkTopicFilter('#/a'), /last/)
  t.match(checkTopicFilter('a\u0000'), /U\+0000/)
  t.match(checkTopicFilter(1 as unknown as string), /string/)
})
