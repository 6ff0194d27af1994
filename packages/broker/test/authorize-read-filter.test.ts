/**
 * authorizeReadFilter: a subscription readable as a whole is delivered without a per-topic
 * authorizeRead; asked again when the identity or the rules change; unsure (false) falls
 * back to the per-topic decision.
 */
import t from 'tap'
import { connect, setup } from './helper.ts'

t.test('a subscription readable as a whole skips the per-topic decision; false falls back to it', async (t) => {
  const perTopic: string[] = []
  const perFilter: string[] = []
  const broker = setup(t, {
    authorizeRead: (_c, topic) => { perTopic.push(topic); return topic !== 'mixed/secret' },
    authorizeReadFilter: (_c, filter) => { perFilter.push(filter); return filter === 'open/#' }
  })
  const sub = await connect(t, broker, {})
  await sub.subscribe('open/#', 0)
  await sub.subscribe('mixed/#', 0)
  const pub = await connect(t, broker, {})
  for (const topic of ['open/a', 'open/b', 'mixed/ok', 'mixed/secret']) pub.publish(topic, 'x', 0)
  const got = [(await sub.next('publish')).topic, (await sub.next('publish')).topic, (await sub.next('publish')).topic]
  t.same(got, ['open/a', 'open/b', 'mixed/ok'])
  t.ok(await sub.nothing(50, 'publish'), 'the denied topic under the other filter is not delivered')
  t.same(perTopic, ['mixed/ok', 'mixed/secret'], 'per-topic decisions only for the filter not readable as a whole')
  t.same(perFilter.sort(), ['mixed/#', 'open/#'], 'each filter asked once')
  broker.invalidateAuthorization()
  pub.publish('open/c', 'x', 0)
  await sub.next('publish')
  t.equal(perFilter.filter((f) => f === 'open/#').length, 2, 'asked again after the rules changed')
})

t.test('a throwing authorizeReadFilter falls back to per-topic decisions', async (t) => {
  const perTopic: string[] = []
  const broker = setup(t, {
    authorizeRead: (_c, topic) => { perTopic.push(topic); return true },
    authorizeReadFilter: () => { throw new Error('nope') }
  })
  const sub = await connect(t, broker, {})
  await sub.subscribe('x/#', 0)
  const pub = await connect(t, broker, {})
  pub.publish('x/1', 'x', 0)
  await sub.next('publish')
  t.same(perTopic, ['x/1'])
})
