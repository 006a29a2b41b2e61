#!/usr/bin/env node
// `npm run check:package` (part of `npm test`, after the build): checks the
// package exactly as `npm publish` would ship it, from the tarball.
//
//  1. `npm pack --json` (scripts skipped: `npm test` has just built dist/).
//  2. Its file list: package.json, README, LICENSE and dist/ only; in dist/
//     only compiled .js and .d.ts, each with the source it came from (a file
//     left from an older build fails here), no source maps (they point at
//     src/, which is not shipped), nothing from tests or fixtures.
//  3. Every target of `main`, `types`, `exports`, `imports` (`#platform`
//     under each condition) and `bin` is in the tarball; every relative
//     import and `new URL('...', import.meta.url)` in a shipped .js names a
//     shipped file (the CLI loads dist/bench/run.js and
//     dist/bench/redis-server.js that way); the bin has its `#!` line;
//     `#platform`'s node and neutral modules export the same names.
//  4. publint (warnings are errors) and @arethetypeswrong/cli on the tarball:
//     `.`, `threadstate/node`, `threadstate/redis` under node10, node16
//     (ESM) and bundler resolution. Ignored rule: `cjs-resolves-to-esm`:
//     the package is ESM only (`"type": "module"`, README), so a `require()`
//     from CommonJS reaching ESM is the design, not a packaging mistake.
//  5. A TypeScript consumer of the tarball, installed in a temporary project
//     (its dependencies linked from this checkout: no network), compiled
//     strict with `skipLibCheck: false` under node16 and bundler resolution:
//     the shipped .d.ts compile, and the value type a handle carries still
//     makes `SharedMap.attach<number>(a map of strings)` an error there (and
//     a registry attached as holding another type under one of its names).
//
// Exit code 1 with every problem listed, 0 when the package is clean.
import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const problems = []
const problem = (message) => problems.push(message)
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))

// Top-level files allowed besides dist/.
const TOP_LEVEL = /^(package\.json|README\.md|LICENSE(\.md|\.txt)?)$/
// Where each compiled directory of dist/ comes from.
const SOURCES = [
  { dist: 'dist/bench/', source: 'bench/' },
  { dist: 'dist/', source: 'src/' },
]

function checkFileList(files) {
  for (const file of files) {
    if (TOP_LEVEL.test(file)) continue
    if (!file.startsWith('dist/')) {
      problem(`${file}: only package.json, README, LICENSE and dist/ are shipped (check \`files\` in package.json)`)
      continue
    }
    if (/(^|\/)(test|tests|__tests__|fixtures?)\//.test(file) || /\.test\.[cm]?js$/.test(file)) {
      problem(`${file}: test code or fixtures are not shipped`)
      continue
    }
    if (file.endsWith('.map')) {
      problem(`${file}: source maps point at sources that are not shipped (exclude them in \`files\`)`)
      continue
    }
    const stem = file.endsWith('.d.ts') ? file.slice(0, -5) : file.endsWith('.js') ? file.slice(0, -3) : undefined
    if (stem === undefined) {
      problem(`${file}: only compiled .js and .d.ts are expected in dist/`)
      continue
    }
    const from = SOURCES.find((s) => stem.startsWith(s.dist))
    const source = from.source + stem.slice(from.dist.length) + '.ts'
    if (!fs.existsSync(path.join(root, source))) {
      problem(`${file}: stale, ${source} does not exist (the build must start from an empty dist/)`)
    }
  }
  for (const needed of ['package.json', 'README.md', 'LICENSE']) {
    if (!files.has(needed)) problem(`${needed} is not in the package`)
  }
}

/** Every string leaf of an exports/imports value, with the conditions leading to it. */
function targets(value, trail = []) {
  if (typeof value === 'string') return [{ target: value, trail }]
  if (value === null || typeof value !== 'object') return []
  return Object.entries(value).flatMap(([key, v]) => targets(v, [...trail, key]))
}

function checkEntryPoints(files) {
  const entries = [
    { field: 'main', target: pkg.main },
    { field: 'types', target: pkg.types },
    ...targets(pkg.exports).map(({ target, trail }) => ({ field: `exports[${trail.join('][')}]`, target })),
    ...targets(pkg.imports).map(({ target, trail }) => ({ field: `imports[${trail.join('][')}]`, target })),
    ...Object.entries(pkg.bin ?? {}).map(([name, target]) => ({ field: `bin.${name}`, target })),
  ]
  for (const { field, target } of entries) {
    if (typeof target !== 'string') {
      problem(`package.json ${field}: expected a path, got ${JSON.stringify(target)}`)
      continue
    }
    const file = path.posix.normalize(target)
    if (!files.has(file)) problem(`package.json ${field} -> ${target}: not in the package`)
  }
  for (const target of Object.values(pkg.bin ?? {})) {
    const file = path.join(root, target)
    if (fs.existsSync(file) && !fs.readFileSync(file, 'utf8').startsWith('#!/usr/bin/env node')) {
      problem(`${target}: a bin needs a \`#!/usr/bin/env node\` first line`)
    }
  }
  for (const subpath of ['.', './node', './redis']) {
    if (!pkg.exports?.[subpath]?.types) problem(`package.json exports[${subpath}]: no \`types\` condition`)
  }
}

// `from './x.js'`, `import('./x.js')`, `new URL('../x.js', import.meta.url)`: relative specifiers only.
const RELATIVE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bnew URL\(\s*)(['"])(\.\.?\/[^'"]+)\1/g

function checkImports(files) {
  for (const file of files) {
    if (!file.endsWith('.js') && !file.endsWith('.d.ts')) continue
    const text = fs.readFileSync(path.join(root, file), 'utf8')
    for (const match of text.matchAll(RELATIVE)) {
      if (match[2].endsWith('/')) continue // a directory (bench/run.js's default results dir in a checkout), not a module
      const target = path.posix.join(path.posix.dirname(file), match[2])
      if (!files.has(target)) problem(`${file} imports ${match[2]} (${target}), which is not in the package`)
    }
  }
}

async function checkPlatform() {
  const conditions = pkg.imports?.['#platform']
  if (!conditions || !conditions.node || !conditions.default || !conditions.types) {
    problem('package.json imports[#platform]: expected `types`, `node` and `default` conditions')
    return
  }
  const node = await import(pathToFileURL(path.join(root, conditions.node)).href)
  const neutral = await import(pathToFileURL(path.join(root, conditions.default)).href)
  const names = (m) => Object.keys(m).sort().join(', ')
  if (names(node) !== names(neutral)) {
    problem(`#platform: ${conditions.node} exports ${names(node)}; ${conditions.default} exports ${names(neutral)}: both must offer the same names (one set of types, ${conditions.types}, describes both)`)
  }
}

/** A devDependency's command (node_modules/.bin links to its script). */
function bin(name) {
  return fs.realpathSync(path.join(root, 'node_modules/.bin', name))
}

// What a user of the published package writes. The `@ts-expect-error` lines fail the check
// (as unused) if the shipped types stop carrying handles' value types or deep read-only values.
const CONSUMER = `import { Mutex, SharedMap, SnapshotStore, StateBuffer, StateManager, f64, schema, type DeepReadonly, type SharedMapHandle, type SnapshotStoreHandle } from 'threadstate'
import { serveStatus, superviseWorker } from 'threadstate/node'
import { RedisDomain, type RedisSharedMapHandle } from 'threadstate/redis'

interface Status { agents: { name: string; tokens: number }[] }
const names = SharedMap.create<string>()
const attached: SharedMap<string> = SharedMap.attach(names.handle)
// @ts-expect-error the value type travels with the handle
SharedMap.attach<number>(names.handle)
const store = SnapshotStore.create<Status>({ initial: { agents: [] } })
const status: DeepReadonly<Status> = store.get()
// @ts-expect-error frozen values are typed deeply read-only
status.agents.push({ name: 'a', tokens: 1 })
const registry = StateManager.create().add('names', names)
const fromHandle: SharedMap<string> = StateManager.attach(registry.handle).get('names')
// @ts-expect-error a registry's entry types travel with its handle
StateManager.attach<{ names: SharedMap<number> }>(registry.handle)
const buffer = StateBuffer.create(schema({ x: f64() }))
const x: number | undefined = buffer.latest()?.value.x
type Handles = RedisSharedMapHandle<string> | SnapshotStoreHandle<Status> | SharedMapHandle
export const used: unknown[] = [attached, fromHandle, Mutex.create(), x, superviseWorker, serveStatus, RedisDomain, undefined as Handles | undefined]
`

async function checkConsumer(tmp, tarball) {
  const dir = path.join(tmp, 'consumer')
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(path.join(modules, 'threadstate'), { recursive: true })
  execFileSync('tar', ['-xzf', tarball, '-C', path.join(modules, 'threadstate'), '--strip-components=1'])
  for (const name of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (name === 'threadstate' || name.startsWith('.')) continue
    fs.symlinkSync(path.join(root, 'node_modules', name), path.join(modules, name))
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  fs.writeFileSync(path.join(dir, 'consumer.ts'), CONSUMER)
  const tsc = path.join(root, 'node_modules/typescript/bin/tsc')
  const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--target', 'es2022', '--lib', 'es2024,esnext.disposable', '--types', 'node']
  const modes = [
    ['node16', ['--module', 'node16', '--moduleResolution', 'node16']],
    ['bundler', ['--module', 'esnext', '--moduleResolution', 'bundler']],
  ]
  await Promise.all(
    modes.map(
      ([mode, flags]) =>
        new Promise((resolve) => {
          execFile(process.execPath, [tsc, ...common, ...flags, 'consumer.ts'], { cwd: dir, encoding: 'utf8' }, (error, stdout, stderr) => {
            if (error) problem(`a TypeScript consumer of the package (${mode} resolution, strict, skipLibCheck false) does not compile:\n${`${stdout}${stderr}`.trim()}`)
            else console.log(`consumer (${mode}): compiles`)
            resolve()
          })
        }),
    ),
  )
}

function runTool(name, args) {
  try {
    const out = execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    console.log(`${name}:\n${out.trim()}`)
  } catch (error) {
    problem(`${name} reported problems:\n${`${error.stdout ?? ''}${error.stderr ?? ''}`.trim()}`)
  }
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'threadstate-pack-'))
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' }),
    )[0]
    const tarball = path.join(tmp, packed.filename)
    const files = new Set(packed.files.map((f) => f.path))
    checkFileList(files)
    checkEntryPoints(files)
    checkImports(files)
    await checkPlatform()
    runTool('publint', [bin('publint'), 'run', tarball, '--strict'])
    runTool('attw', [
      bin('attw'),
      tarball,
      '--no-definitely-typed', // the package ships its own types: no @types lookup on the registry
      '--ignore-rules',
      'cjs-resolves-to-esm',
      '--format',
      'table-flipped',
      '--no-color',
      '--no-emoji',
    ])
    await checkConsumer(tmp, tarball)
    console.log(`${packed.filename}: ${files.size} files, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`)
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }

  if (problems.length > 0) {
    console.error(`check-package: ${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    process.exitCode = 1
  } else {
    console.log('check-package: the package is clean')
  }
}

await main()
