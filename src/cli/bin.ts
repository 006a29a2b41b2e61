#!/usr/bin/env node
/**
 * The `threadstate` command line (the package's `bin`). Node-only.
 *
 * ```
 * threadstate demo [--duration <s>] [--kill-estimator-after <s>] [--port <n>] [--plain]
 * threadstate demo-locks [--duration <s>]
 * threadstate demo-fleet [--duration <s>] [--kill-after <s>] [--redis <url>] [--plain]
 * threadstate bench [name ...] [--quick] [--out <dir>] [--list]
 * threadstate --help
 * ```
 *
 * Each command is one entry of {@link COMMANDS}: its options (for
 * `node:util` parseArgs), its help, and a `run` that imports the command's
 * module only when it runs. To add a command, add an entry.
 *
 * Exit codes: 0 success, 1 the command failed (e.g. a demo check), 2 bad
 * usage (unknown command or option, bad option value), 130 interrupted.
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'

type OptionSpecs = NonNullable<ParseArgsConfig['options']>
type OptionValues = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>

/** One subcommand. */
interface Command {
  /** One line for the command list. */
  readonly summary: string
  /** The usage line, after `Usage: `. */
  readonly usage: string
  /** What the command does, a few lines. */
  readonly description: string
  /** Options for parseArgs (`--help` is added to every command). */
  readonly options: OptionSpecs
  /** Whether the command takes positional arguments (names). @default false */
  readonly positionals?: boolean
  /** Help lines of the options: [flags, explanation]. */
  readonly optionHelp: readonly (readonly [string, string])[]
  /** Runs the command with parsed options; resolves with the exit code. */
  run(values: OptionValues, positionals: readonly string[]): Promise<number>
}

/** A bad command line: reported with the relevant usage, exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError'
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message)
  }
}

/** Reads `--<name> <seconds>` (> 0, or >= `min` if given, and <= 600) as milliseconds. */
function secondsOption(name: string, value: OptionValues[string], help: string, min?: number): number {
  const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
  const low = min === undefined ? seconds > 0 : seconds >= min
  if (!Number.isFinite(seconds) || !low || seconds > 600) {
    const range = min === undefined ? '> 0' : `>= ${min}`
    throw new UsageError(`Expected \`--${name}\` to be a number of seconds ${range} and <= 600, got \`${String(value)}\``, help)
  }
  return seconds * 1000
}

/** Reads `--port <n>`: an integer from 0 (any free port) to 65535. */
function portOption(value: OptionValues[string], help: string): number {
  const port = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`Expected \`--port\` to be an integer from 0 (any free port) to 65535, got \`${String(value)}\``, help)
  }
  return port
}

/** The demo's shortest run: time to start four threads, take off and land. */
const MIN_DEMO_SECONDS = 1
/** The estimator must die at least this long before the end, so the watchdog can be seen acting. */
const KILL_MARGIN_MS = 500

const COMMANDS: Readonly<Record<string, Command>> = {
  demo: {
    summary: 'a drone control stack on 4 threads: state buffers, state machine, watchdog, /status, /metrics',
    usage: 'threadstate demo [--duration <seconds>] [--kill-estimator-after <seconds>] [--port <n>] [--plain]',
    description:
      'An estimator worker publishes a simulated drone state at 100 Hz (StateBuffer); a controller worker\n' +
      'reads it at 1 kHz (RateLoop + readInto), verifies its checksum and publishes a PD command; a\n' +
      'supervisor worker runs the flight StateMachine (init -> ready -> flying -> landed, estop from\n' +
      'anywhere) with a Watchdog on the pose age (seeds 000, 003). The main thread serves GET /status\n' +
      '(a SnapshotStore snapshot) and GET /metrics (Prometheus) on 127.0.0.1, shows the run live, and\n' +
      'ends with checks: exit 0 if all pass, 1 if one fails.',
    options: {
      duration: { type: 'string', short: 'd' },
      'kill-estimator-after': { type: 'string', short: 'k' },
      port: { type: 'string', short: 'p' },
      plain: { type: 'boolean' },
    },
    optionHelp: [
      ['-d, --duration <seconds>', 'how long the run lasts (default: 10, at least 1)'],
      ['-k, --kill-estimator-after <seconds>', 'terminate the estimator then (not before its first state): the watchdog drives the machine to estop'],
      ['-p, --port <n>', 'port of the status server on 127.0.0.1 (default: 0, any free port)'],
      ['--plain', 'print plain lines even on a terminal (they are the default when stdout is not one)'],
    ],
    async run(values) {
      const help = commandHelp('demo', true)
      const { DEFAULT_DURATION_MS, runDroneDemo } = await import('./drone/demo.js')
      const durationMs =
        values['duration'] === undefined ? DEFAULT_DURATION_MS : secondsOption('duration', values['duration'], help, MIN_DEMO_SECONDS)
      const kill = values['kill-estimator-after']
      const killEstimatorAfterMs = kill === undefined ? undefined : secondsOption('kill-estimator-after', kill, help)
      if (killEstimatorAfterMs !== undefined && killEstimatorAfterMs > durationMs - KILL_MARGIN_MS) {
        throw new UsageError(
          `Expected \`--kill-estimator-after\` to be at least ${KILL_MARGIN_MS / 1000} s before the end of the run ` +
            `(\`--duration\` ${durationMs / 1000} s), got \`${String(kill)}\``,
          help,
        )
      }
      const port = values['port'] === undefined ? 0 : portOption(values['port'], help)
      return runDroneDemo({
        durationMs,
        port,
        ...(killEstimatorAfterMs === undefined ? {} : { killEstimatorAfterMs }),
        ...(values['plain'] === true ? { live: false } : {}),
      })
    },
  },
  'demo-locks': {
    summary: 'the lock family at work across real worker threads (about 4 s)',
    usage: 'threadstate demo-locks [--duration <seconds>]',
    description:
      'Runs four short scenes on real worker threads: a Mutex against lost updates, ReentrantMutex\n' +
      'versus DeadlockError (seed 003), a worker killed while holding a lock (OwnerDiedError and\n' +
      'recovery), and an RWLock with readers, a writer and stats. Exits 1 if any check fails.',
    options: { duration: { type: 'string', short: 'd' } },
    optionHelp: [['-d, --duration <seconds>', 'rough running time (default: 4)']],
    async run(values) {
      const duration = values['duration']
      const options =
        duration === undefined ? {} : { durationMs: secondsOption('duration', duration, commandHelp('demo-locks', true)) }
      const { runDemo } = await import('./locks/demo.js')
      return runDemo(options)
    },
  },
  'demo-fleet': {
    summary: 'the drone stack as 3 processes on one Redis server: locks with leases and fences, a kill, estop',
    usage: 'threadstate demo-fleet [--duration <seconds>] [--kill-after <seconds>] [--redis <url>] [--plain]',
    description:
      'The drone stack of `threadstate demo` as three processes sharing threadstate/redis objects: a flight\n' +
      'process (estimator + auto-tuner), a controller (1 kHz loop on its pose mirror) and a supervisor (the\n' +
      'RedisStateMachine, the RedisWatchdog); this process is the operator and draws the live view. With\n' +
      '--kill-after, the tuner is SIGKILLed holding the gains lock: the watchdog drives the machine to estop,\n' +
      'the next holder is told (RedisOwnerDiedError), the fence refuses the dead holder\'s late write.\n' +
      'Starts a private redis-server unless --redis is given. Exit 0 if every check passes, 1 if not.',
    options: {
      duration: { type: 'string', short: 'd' },
      'kill-after': { type: 'string', short: 'k' },
      redis: { type: 'string', short: 'r' },
      plain: { type: 'boolean' },
    },
    optionHelp: [
      ['-d, --duration <seconds>', 'how long the run lasts (default: 8, at least 2)'],
      ['-k, --kill-after <seconds>', 'the fault scene then (once the drone flies), at least 1 s before the end'],
      ['-r, --redis <url>', 'use this Redis server (default: start a private redis-server on a free port)'],
      ['--plain', 'print plain lines even on a terminal'],
    ],
    async run(values) {
      const help = commandHelp('demo-fleet', true)
      const { DEFAULT_FLEET_DURATION_MS, runFleetDemo } = await import('./fleet/demo.js')
      const durationMs =
        values['duration'] === undefined ? DEFAULT_FLEET_DURATION_MS : secondsOption('duration', values['duration'], help, 2)
      const kill = values['kill-after']
      const killAfterMs = kill === undefined ? undefined : secondsOption('kill-after', kill, help)
      if (killAfterMs !== undefined && killAfterMs > durationMs - 1_000) {
        throw new UsageError(
          `Expected \`--kill-after\` to be at least 1 s before the end of the run (\`--duration\` ${durationMs / 1000} s), got \`${String(kill)}\``,
          help,
        )
      }
      const redis = values['redis']
      if (redis !== undefined && (typeof redis !== 'string' || !/^rediss?:\/\/\S+$/.test(redis))) {
        throw new UsageError(`Expected \`--redis\` to be a URL (redis://host:port), got \`${String(redis)}\``, help)
      }
      const code = await runFleetDemo({
        durationMs,
        ...(killAfterMs === undefined ? {} : { killAfterMs }),
        ...(typeof redis === 'string' ? { redisUrl: redis } : {}),
        ...(values['plain'] === true ? { live: false } : {}),
      })
      // The demo has closed everything it opened; but a RedisDomain closed after its server died
      // (Ctrl-C kills the private server first) can leave a timer that holds the process for ever.
      // This one is unref'd: it ends the process only if something else still holds it.
      setTimeout(() => process.exit(), 2_000).unref()
      return code
    },
  },
  bench: {
    summary: 'run the benchmarks, each beside the alternative it replaces; markdown + JSON results',
    usage: 'threadstate bench [name ...] [--quick] [--out <dir>] [--list]',
    description:
      'Runs the benchmark cases named (`state-buffer/read`, `read`) or whole suites (`locks`,\n' +
      '`state-buffer`, `snapshot`, `map`, `runtime`); every case if none is named (about 2.5 minutes on 2 cores).\n' +
      'Tables go to stdout, progress to stderr, and <suite>.md and <suite>.json to the output directory.',
    options: {
      quick: { type: 'boolean', short: 'q' },
      out: { type: 'string', short: 'o' },
      list: { type: 'boolean' },
    },
    positionals: true,
    optionHelp: [
      ['-q, --quick', 'shorter runs: a look, not a measurement'],
      ['-o, --out <dir>', 'where the markdown and JSON go (default: ./threadstate-bench)'],
      ['--list', 'list the cases and exit'],
    ],
    async run(values, names) {
      const help = commandHelp('bench', true)
      const { loadBench, runBenchCommand } = await import('./bench.js')
      const bench = await loadBench()
      if (values['list'] === true) {
        const cases = bench.benchCases()
        console.log(columns(cases.map((c) => [c.name, c.description])))
        return 0
      }
      const unknown = bench.unknownNames(names)
      if (unknown.length > 0) {
        const suites = [...new Set(bench.benchCases().map((c) => c.suite))].join(', ')
        throw new UsageError(
          `Expected bench case or suite names (${suites}; \`threadstate bench --list\` lists the cases), got ${unknown.map((n) => `\`${n}\``).join(', ')}`,
          help,
        )
      }
      const out = values['out']
      if (out !== undefined && (typeof out !== 'string' || out.trim() === '')) {
        throw new UsageError(`Expected \`--out\` to be a directory, got \`${String(out)}\``, help)
      }
      return runBenchCommand(bench, {
        filters: names,
        quick: values['quick'] === true,
        outDir: typeof out === 'string' ? out : 'threadstate-bench',
      })
    },
  },
}

function columns(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `  ${left.padEnd(width)}   ${right}`).join('\n')
}

function mainHelp(): string {
  return [
    'Usage: threadstate <command> [options]',
    '',
    'Commands:',
    columns(Object.entries(COMMANDS).map(([name, command]) => [name, command.summary])),
    '',
    'Options:',
    columns([
      ['-h, --help', "show this help (a command's: threadstate <command> --help)"],
      ['-v, --version', 'print the version'],
    ]),
  ].join('\n')
}

/** A command's help; `brief` (after a usage error) leaves out the description. */
function commandHelp(name: string, brief = false): string {
  const command = COMMANDS[name]!
  return [
    `Usage: ${command.usage}`,
    ...(brief ? [] : ['', command.description]),
    '',
    'Options:',
    columns([...command.optionHelp, ['-h, --help', 'show this help']]),
  ].join('\n')
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return String(pkg.version)
}

/** parseArgs' message for a bad command line, said as "expected X, got Y". */
function parseErrorMessage(name: string, code: string, message: string): string {
  const quoted = /'([^']*)'/.exec(message)?.[1]
  const options = Object.entries(COMMANDS[name]!.options).map(([option]) => `--${option}`)
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted !== undefined) {
    return `Expected an option of \`threadstate ${name}\` (${[...options, '--help'].join(', ')}), got \`${quoted}\``
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted !== undefined) {
    return `Expected only options after \`threadstate ${name}\`, got the argument \`${quoted}\``
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted !== undefined) {
    const option = quoted.split(' <')[0]!.split(', ').at(-1)!
    return message.endsWith('argument missing')
      ? `Expected a value after \`${option}\`, got none`
      : `Expected no value for \`${option}\` (a flag), got one`
  }
  return `Expected a valid command line, got: ${message}`
}

function isCommand(name: string | undefined): name is string {
  return name !== undefined && Object.hasOwn(COMMANDS, name)
}

/** Parses `argv` (without `node` and the script) and runs; resolves with the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = rest[0]
    if (topic === undefined) console.log(mainHelp())
    else if (isCommand(topic)) console.log(commandHelp(topic))
    else {
      const names = Object.keys(COMMANDS).join(', ')
      throw new UsageError(`Expected a command to explain (${names}), got \`${topic}\``, mainHelp())
    }
    return 0
  }
  if (first === '--version' || first === '-v') {
    console.log(version())
    return 0
  }
  if (first === undefined) throw new UsageError('Expected a command, got none', mainHelp())
  if (!isCommand(first)) {
    const names = Object.keys(COMMANDS).join(', ')
    throw new UsageError(`Expected a command (${names}) or --help, got \`${first}\``, mainHelp())
  }
  const command = COMMANDS[first]!
  let parsed: { values: OptionValues; positionals: string[] }
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: command.positionals === true,
    })
  } catch (error) {
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad command lines.
    const code = (error as { code?: unknown } | null)?.code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(parseErrorMessage(first, code, (error as Error).message), commandHelp(first, true))
    }
    throw error
  }
  if (parsed.values['help'] === true) {
    console.log(commandHelp(first))
    return 0
  }
  return command.run(parsed.values, parsed.positionals)
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`threadstate: ${error.message}\n\n${error.help}`)
    process.exitCode = 2
  } else {
    console.error('threadstate: unexpected error:', error)
    process.exitCode = 1
  }
}
