// fast-check generators biased towards matches: filters and topics draw their levels from
// one small shared alphabet (including the empty level and '$' words), filters add '+'
// and a trailing '#', and topics start with a '$' word now and then.
import fc from 'fast-check'

const word = fc.constantFrom('a', 'b', 'c', '', 'ab', '$x', 'A')
const dollarWord = fc.constantFrom('$SYS', '$x', 'a', 'b')

export const topicArb: fc.Arbitrary<string> = fc.tuple(
  fc.oneof({ weight: 1, arbitrary: dollarWord }, { weight: 3, arbitrary: word }),
  fc.array(word, { maxLength: 4 })
).map(([first, rest]) => [first, ...rest].join('/')).filter(topic => topic !== '')

const filterWord = fc.oneof({ weight: 3, arbitrary: word }, { weight: 2, arbitrary: fc.constant('+') }, { weight: 1, arbitrary: dollarWord })

export const filterArb: fc.Arbitrary<string> = fc.tuple(
  fc.array(filterWord, { minLength: 1, maxLength: 5 }),
  fc.boolean()
).map(([levels, hash]) => (hash ? [...levels.slice(0, -1), '#'] : levels).join('/')).filter(filter => filter !== '')
