/**
 * Regular expressions from users, run with a time bound (docs/adr/0028). A pattern is
 * only refused when it does not compile: static "catastrophic pattern" checks (safe-regex2's
 * star height) refuse everyday patterns such as `^\d+(\.\d+)?$` and still miss polynomial
 * ones such as `a*a*a*b`. Instead every test runs inside a `node:vm` context with a
 * timeout; V8 interrupts a backtracking regex at the deadline, and the evaluator reports an
 * error for that case (not a fail). Costs about 0.3 ms per test for the watchdog.
 */
import * as vm from 'node:vm';

/** The longest one regex test may run. */
export const REGEX_TIME_LIMIT_MS = 50;

const context = vm.createContext({ re: /(?:)/, subject: '' });
const script = new vm.Script('re.test(subject)');

export function compileRegexEvaluator(pattern: string, flags: string): { regex: RegExp } | { reason: string } {
  try {
    return { regex: new RegExp(pattern, flags) };
  } catch (error) {
    return { reason: `is not a valid regular expression (${(error as Error).message})` };
  }
}

/**
 * true/false as RegExp.test, or 'timeout' when it ran past `timeoutMs` twice. The deadline is
 * wall time: on a loaded machine a harmless test can be descheduled past it once, so a timeout
 * is confirmed by a second try (a backtracking pattern costs two deadlines, a spurious error
 * needs two stalls in a row).
 */
export function boundedRegexTest(regex: RegExp, subject: string, timeoutMs = REGEX_TIME_LIMIT_MS): boolean | 'timeout' {
  const first = runOnce(regex, subject, timeoutMs);
  return first === 'timeout' ? runOnce(regex, subject, timeoutMs) : first;
}

function runOnce(regex: RegExp, subject: string, timeoutMs: number): boolean | 'timeout' {
  context.re = new RegExp(regex.source, regex.flags.replace(/[gy]/g, ''));
  context.subject = subject;
  try {
    return script.runInContext(context, { timeout: timeoutMs }) === true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'timeout';
    throw error;
  } finally {
    context.subject = '';
  }
}
