// Interleaved A/B of the RWLock's uncontended paths in two builds (one thread,
// a slot of its own): readLock+readUnlock and writeLock+writeUnlock.
//   node bench/rwlock-read-ab.mjs /work/baseline/dist dist [rounds] [iterations]
// Prints each round's ns per pair and the median B/A ratio.
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const [a = '/work/baseline/dist', b = 'dist', roundsArg = '12', itersArg = '2000000'] = process.argv.slice(2)
const rounds = Number(roundsArg)
const iterations = Number(itersArg)
const load = async (dir) => (await import(pathToFileURL(resolve(dir, 'index.js')).href)).RWLock
const builds = [
  { name: 'A', RWLock: await load(a) },
  { name: 'B', RWLock: await load(b) },
]

function time(fn) {
  const start = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - start) / iterations
}

const cases = {
  read(rw) {
    return time(() => {
      for (let i = 0; i < iterations; i++) {
        rw.readLock()
        rw.readUnlock()
      }
    })
  },
  write(rw) {
    return time(() => {
      for (let i = 0; i < iterations; i++) {
        rw.writeLock()
        rw.writeUnlock()
      }
    })
  },
}

const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1]
for (const [name, run] of Object.entries(cases)) {
  const locks = builds.map((build) => build.RWLock.create())
  for (const rw of locks) run(rw) // warm-up, and the slot claimed
  const ns = { A: [], B: [] }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0]
    for (const k of order) ns[builds[k].name].push(run(locks[k]))
  }
  const ratios = ns.A.map((x, i) => ns.B[i] / x)
  console.log(`${name}: A median ${median(ns.A).toFixed(2)} ns, B median ${median(ns.B).toFixed(2)} ns, B/A median of per-round ratios ${median(ratios).toFixed(3)} (rounds ${ratios.map((x) => x.toFixed(2)).join(' ')})`)
}
