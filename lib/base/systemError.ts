/**
 * Errors the operating system raises (a full disk, a read-only folder, a missing permission): an
 * expected failure whose message already names the path, never a bug to print with a stack.
 */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string; syscall: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
