import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What {@link writeFileAtomic} did about the file's owner. */
export interface AtomicWriteResult {
  /** The previous file's owner could not be given to the new file (not running as root): it is now ours. */
  ownerChanged: boolean;
}

/**
 * Replaces `path` so that a reader sees the old content or the new, never a mix or an empty file:
 * a temporary file in the same directory (same filesystem, so rename is atomic), written, fsynced,
 * given mode `mode` and the previous file's owner, renamed over `path`, then the directory fsynced
 * so the rename survives a crash.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<AtomicWriteResult> {
  const directory = dirname(path);
  let owner: { uid: number; gid: number } | undefined;
  try {
    const previous = await stat(path);
    owner = { uid: previous.uid, gid: previous.gid };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temporary = join(
    directory,
    `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  let ownerChanged = false;
  const handle = await open(temporary, 'wx', mode);
  try {
    await handle.chmod(mode); // the umask may have narrowed or widened it
    if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
      try {
        await handle.chown(owner.uid, owner.gid);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
        ownerChanged = true;
      }
    }
    await handle.writeFile(data, 'utf8');
    await handle.sync();
    await handle.close();
    await rename(temporary, path);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is done.
  } finally {
    await dir.close();
  }
  return { ownerChanged };
}
