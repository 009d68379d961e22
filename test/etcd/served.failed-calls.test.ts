/**
 * Which names an etcd enroller serves after calls of them fail (ServedNames; found by reviews, 2026-12-05, each
 * case fixed with it). A name served is one whose marks are its own; any other mark of ours is a stray, deleted. A
 * failed or refused bind or confirm lets its name go only while no other call of it is in flight and none sent
 * since the name was last let go (or the lease renewed) succeeded. Each case below failed before its fix:
 * - two failed binds of a name never served, the first committed with its answer lost: an early version restored
 *   the first's token at the second's failure, and the name stayed served for the lease's life;
 * - a leave whose delete failed, then a failed bind: a version keyed on the mark's known revision kept it served;
 * - a confirm failing while a committed bind of the name awaits its answer: that version deleted the bind's mark;
 * - a success of a call sent before a leave, or under a lease since lost, counted, and kept the name served;
 * - a committed bind whose answer was lost after the watch had shown its mark left the mark for good (the watch
 *   shows a mark of a name still served; nothing deleted it after the failure): now deleted at the failure;
 * - a listed member's bind again that got no answer had the earlier, committed bind's mark deleted;
 * - a release committed while a bind of the name sent after it was in flight left the success before the release
 *   counting: the bind refused, the name stayed served, and a later unanswered bind's mark was never a stray;
 * - (a review, 2026-12-06) a release whose answer came after a later bind of the name had failed unanswered, or never
 *   came: the success before the release kept the name served through that failure, and the bind's mark stayed
 *   while the enroller ran. Now the release's answer, or the watch showing the released mark deleted, lets the
 *   name go;
 * - (a review of that fix, 2026-12-06) the watch's deletion was matched against the revision of the last write
 *   answered, so a re-bind or confirm committed unanswered (or answered after the deletion) kept the old success
 *   counting, and a deletion during a table read again was never told. Now a deletion at revision D undoes every
 *   success committed before D, answered before or after, and a read again tells the marks of ours it lacks;
 * - (a ninth review, 2026-12-06) a read again told only the marks the table had seen, and took the marks it found
 *   for granted: a mark written and deleted while the watch was down left its success counting, and a mark of an
 *   unanswered bind committed then was never a stray. A read again now reconciles every served name and every
 *   mark of ours with what it found (OwnMarks.readAgain).
 */
import type { Watcher } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { describeEtcd, uniquePrefix } from '../support/etcd.js';
import { deletesKey, gate, isConfirm, otherEnroller, putsKey, readKey, tappedStore } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

type Tap = Awaited<ReturnType<typeof tappedStore>>['tap'];
type Store = Awaited<ReturnType<typeof tappedStore>>['e1'];

/**
 * e1's watch fails for good (compacted past its revision) and its table's read again waits until the returned
 * function is called. (etcd3's watcher is reached through its private watchManager.)
 */
async function watchDownReadHeld(tap: Tap): Promise<() => void> {
  const reads = gate();
  const range = tap.client.kv.range.bind(tap.client.kv);
  let holdReads = true;
  tap.client.kv.range = (async (...args: Parameters<typeof range>) => {
    if (holdReads) await reads.held;
    return range(...args);
  }) as typeof range;
  const watchers = (tap.client as unknown as { watchManager: { watchers: Watcher[] } }).watchManager.watchers;
  expect(watchers).toHaveLength(1);
  watchers[0]?.emit('error', new Error('9 FAILED_PRECONDITION: mvcc: required revision has been compacted'));
  await new Promise((r) => setTimeout(r, 300)); // the failed watch cancelled
  return () => {
    holdReads = false;
    reads.open();
  };
}

/** e1 binds a to 7: the bind commits, the watch shows it, and then its answer is lost. */
async function bindUnanswered(tap: Tap, e1: Store, prefix: string): Promise<void> {
  const seen = e1.stats().watchEvents;
  // Added to the hook in force, not in its place: the tap reads its hook when an answer comes, and a call sent before
  // (a release whose answer the test loses) may still be waiting for its answer under load (a CI run, 2026-12-06: the
  // release's answer came after this hook replaced its own, and the release was answered true).
  const earlier = tap.hooks.after;
  tap.hooks.after = (req, res) => {
    if (!putsKey(`${prefix}addresses/7`)(req)) return earlier?.(req, res);
    return until(() => e1.stats().watchEvents >= seen + 3, 2000, 'the watch shows the bind').then(() => {
      throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
    });
  };
  await expect(e1.bind({ name: 'a', address: 7 })).rejects.toThrow(/DEADLINE/);
}

/** e1 serves nobody named a: its mark on a goes (a stray), and e2 can then free a's address 7. */
async function strayGoes(e1: Store, e2: Store, prefix: string): Promise<void> {
  const markKey = `${prefix}members/a/e1`;
  await until(() => e2.addressOf('a') === 7, 2000, 'e2 sees a at 7');
  for (const deadline = Date.now() + 2000; (await readKey(markKey)) !== null && Date.now() < deadline; ) {
    await new Promise((res) => setTimeout(res, 20));
  }
  expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).toBeNull();
  expect(await e2.release('a')).toBe(true);
}

describeEtcd('EtcdAddressStore: two failed binds of one name', () => {
  it('leave the name unserved: the committed-but-unanswered mark is deleted as a stray', async () => {
    const prefix = uniquePrefix('two-failed-binds');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    const g2 = gate();
    let n = 0;
    let sent = 0;
    const committed = gate();
    tap.hooks.before = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      sent++;
      return sent === 2 ? committed.held : undefined; // the second is sent once the first committed
    };
    tap.hooks.after = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      n++;
      if (n === 1) committed.open();
      if (n === 1) return g1.held.then(() => Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')));
      if (n === 2) return g2.held;
      return undefined;
    };
    const first = e1.bind({ name: 'a', address: 5 }).then(
      (ok) => `answered ${ok}`,
      (err: Error) => `failed ${err.message}`,
    );
    const second = e1.bind({ name: 'a', address: 6 }); // built at once: etcd has no a yet, as far as e1 knows
    await until(() => n === 2, 2000, 'the second bind answered');
    await until(() => e1.stats().watchEvents >= 3, 2000, 'the watch shows the mark');
    g1.open();
    expect(await first).toMatch(/failed .*DEADLINE_EXCEEDED/);
    g2.open();
    expect(await second).toBe(false); // refused: etcd has a bound to 5 now
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 500)); // what the store would send now has landed

    // e1 binds nobody to a: both its calls failed. Its mark from the first is a stray and should go.
    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).toBeNull();
    expect(await e2.release('a')).toBe(true);
  });
});

describeEtcd('EtcdAddressStore: a leave whose delete failed, a confirm beside a bind', () => {
  it('control: a leave whose delete failed is retried, and the mark goes', async () => {
    const prefix = uniquePrefix('served-leave-retried');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true);
    let leaveFails = 1;
    tap.hooks.before = (req) => {
      if (leaveFails > 0 && deletesKey(markKey)(req)) {
        leaveFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      return undefined;
    };
    await e1.leave('a').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await readKey(markKey)).toBeNull();
  }, 20_000);

  it('a leave whose delete failed, then a failed bind of the name: the mark goes, the name can be released', async () => {
    const prefix = uniquePrefix('served-leave-then-failed-bind');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true);
    let leaveFails = 1;
    let bindFails = 0;
    tap.hooks.before = (req) => {
      if (leaveFails > 0 && deletesKey(markKey)(req)) {
        leaveFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      if (bindFails > 0 && putsKey(markKey)(req)) {
        bindFails--;
        return Promise.reject(new Error('14 UNAVAILABLE: etcd out of reach'));
      }
      return undefined;
    };
    await e1.leave('a').catch(() => undefined); // the member left; the delete of its mark failed (retried later)
    bindFails = 1;
    await expect(e1.bind({ name: 'a', address: 6 })).rejects.toThrow(/UNAVAILABLE/); // it enrols again: never sent
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 3500)); // the leave's retry (1 s, then 2 s) has had its chances

    // e1 serves nobody by the name a: its left member's mark should be gone, and a releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);

  it("a confirm failing while a committed bind of the name awaits its answer leaves the bind's mark", async () => {
    const prefix = uniquePrefix('served-bind-and-confirm');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const answer = gate();
    let confirmFails = 1;
    tap.hooks.before = (req) => {
      if (confirmFails > 0 && isConfirm(prefix, 'a')(req)) {
        confirmFails--;
        return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
      }
      return undefined;
    };
    let bindsAnswered = 0;
    tap.hooks.after = (req) => {
      if (!isConfirm(prefix, 'a')(req) && putsKey(markKey)(req) && bindsAnswered++ === 0) return answer.held;
      return undefined;
    };
    const bound = e1.bind({ name: 'a', address: 5 }); // committed; its answer held
    await until(() => e1.stats().watchEvents >= 3 && e1.addressOf('a') === 5, 2000, 'the watch shows the bind and its mark');
    const confirmed = e1.confirm({ name: 'a', address: 5 }).then(
      (ok) => `answered ${ok}`,
      (err: Error) => `failed ${err.message}`,
    );
    expect(await confirmed).toMatch(/failed .*DEADLINE/);
    await new Promise((r) => setTimeout(r, 300)); // what the store sends now lands
    answer.open();
    expect(await bound).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    // e1 bound a and answered true: its mark must be there.
    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).not.toBeNull();
  }, 20_000);
});

describeEtcd('EtcdAddressStore: a success of a call sent before a leave', () => {
  it('does not keep the name served after a later call of it fails', async () => {
    const prefix = uniquePrefix('served-stale-success');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    const g2 = gate();
    let sent1 = false;
    let sent2 = false;
    tap.hooks.before = (req) => {
      if (putsKey(`${prefix}addresses/5`)(req)) {
        sent1 = true;
        return g1.held;
      }
      if (putsKey(`${prefix}addresses/6`)(req)) {
        sent2 = true;
        return g2.held;
      }
      return undefined;
    };
    const b1 = e1.bind({ name: 'a', address: 5 });
    await until(() => sent1, 1000, 'B1 sent');
    await e1.leave('a'); // the member left: no mark known yet, nothing sent
    const b2 = e1.bind({ name: 'a', address: 6 }).catch((err: Error) => `failed ${err.message}`);
    await until(() => sent2, 1000, 'B2 sent');
    g1.open();
    expect(await b1).toBe(true); // answered after the leave
    g2.open();
    expect(await b2).toBe(false); // refused: a is bound now
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await new Promise((r) => setTimeout(r, 1000));
    // e1 left a, and its last bind of a was refused: it serves a no more; its mark should go and a be releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);
});

describeEtcd('EtcdAddressStore: an answer of a call sent before a renewal', () => {
  it('does not keep the name served after a call under the new lease fails', async () => {
    const prefix = uniquePrefix('served-success-after-clear');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1, lapse } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const g1 = gate();
    let answered1 = false;
    tap.hooks.after = async (req) => {
      if (putsKey(`${prefix}addresses/5`)(req)) {
        answered1 = true;
        await g1.held; // B1's answer, slow
        return;
      }
      if (putsKey(`${prefix}addresses/6`)(req)) {
        g1.open(); // B1's answer arrives while B2's is on the wire
        await new Promise((r) => setTimeout(r, 100));
        throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'); // B2 committed, its answer lost
      }
    };
    const b1 = e1.bind({ name: 'a', address: 5 });
    await until(() => answered1, 1000, 'B1 committed');
    await until(() => e1.addressOf('a') === 5, 2000, 'the watch shows a');
    await lapse(0); // lease 2: B1's mark goes with lease 1, clear()
    const b2 = e1.bind({ name: 'a', address: 6 }).catch((err: Error) => `failed ${err.message}`);
    expect(await b1).toBe(true);
    expect(await b2).toMatch(/failed .*DEADLINE/);
    await until(() => e2.addressOf('a') === 6, 2000, 'e2 sees a at 6');
    await new Promise((r) => setTimeout(r, 1000));
    // e1's one bind of a under lease 2 failed; a mark of it is stray and should go, and a be releasable.
    expect(await readKey(markKey)).toBeNull();
    expect(await e2.release('a')).toBe(true);
  }, 20_000);
});

describeEtcd('EtcdAddressStore: a bind answered after its watch events', () => {
  it('a committed bind whose answer is lost after the watch showed its mark leaves no mark behind', async () => {
    const prefix = uniquePrefix('served-bind-lost-answer');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    const before = e1.stats().watchEvents;
    tap.hooks.after = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      tap.hooks.after = undefined;
      // The answer is on its way; the watch shows the three keys first; then the call's deadline passes.
      return until(() => e1.stats().watchEvents >= before + 3, 2000, 'the watch shows the bind').then(() => {
        throw new Error('4 DEADLINE_EXCEEDED: Deadline exceeded');
      });
    };
    await expect(e1.bind({ name: 'a', address: 5 })).rejects.toThrow(/DEADLINE_EXCEEDED/);
    expect(await readKey(`${prefix}names/a`)).toBe('5'); // committed (its mark with it)
    expect(e1.addressOf('a')).toBe(5);

    // e1 does not serve a (its bind failed). Its mark must go, as bind's comment says ("deleted when the watch
    // shows it"), so that a goes idle and its hold can free 5. (Before the fix, the mark stayed as long as e1 lived.)
    for (const deadline = Date.now() + 2000; (await readKey(markKey)) !== null && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await readKey(markKey)).toBeNull();
    expect(e1.stats().strayMarks).toBe(1);
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    expect(await e2.release('a')).toBe(true);
  });
});

describeEtcd('EtcdAddressStore: a bind again that gets no answer', () => {
  it("keeps the mark of the name's earlier, committed bind", async () => {
    const prefix = uniquePrefix('served-rebind-unanswered');
    const markKey = `${prefix}members/a/e1`;
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // a enrolled through e1 (listed there)
    await until(() => e1.stats().watchEvents >= 3, 2000, 'the watch shows the mark');
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');

    // a enrols again; its bind never reaches etcd.
    tap.hooks.before = (req) => {
      if (!putsKey(markKey)(req)) return undefined;
      tap.hooks.before = undefined;
      return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
    };
    await expect(e1.bind({ name: 'a', address: 5 })).rejects.toThrow(/DEADLINE_EXCEEDED/);
    await new Promise((r) => setTimeout(r, 300)); // (what the store would send now has landed)

    expect(await readKey(markKey), `strayMarks: ${e1.stats().strayMarks}`).not.toBeNull();
    expect(await e2.release('a')).toBe(false); // another enroller cannot free the address of a member e1 lists
  });
});

describeEtcd('EtcdAddressStore: a release, then a bind sent after it and refused', () => {
  it('lets the name go: a later unanswered bind mark is a stray and goes', async () => {
    const prefix = uniquePrefix('served-release-refused');
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // B1 succeeded: a served
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');

    const released = gate();
    tap.hooks.after = (req) => {
      if (deletesKey(`${prefix}names/a`)(req)) released.open();
      if (putsKey(`${prefix}addresses/7`)(req)) return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
      return undefined;
    };
    tap.hooks.before = (req) => (putsKey(`${prefix}addresses/6`)(req) ? released.held : undefined);

    const r = e1.release('a'); // sent with a's token B1
    const b2 = e1.bind({ name: 'a', address: 6 }); // sent after it (B2 takes a), built on the old table
    expect(await r).toBe(true);
    expect(await b2).toBe(false); // refused: the release deleted a

    await until(() => e1.addressOf('a') === undefined, 2000, 'e1 sees a gone');
    // B3: committed, its answer lost. Since a was let go (the release), no call of it succeeded.
    const b3 = await e1.bind({ name: 'a', address: 7 }).then(
      (ok) => `answered ${ok}`,
      (err: Error) => `failed ${err.message}`,
    );
    expect(b3).toMatch(/failed .*DEADLINE/);
    await strayGoes(e1, e2, prefix); // e1 serves a no more: its mark from B3 is a stray
  }, 20_000);
});

const outcome = (p: Promise<unknown>) =>
  p.then(
    (ok) => `answered ${String(ok)}`,
    (err: Error) => `failed ${err.message}`,
  );

describeEtcd('EtcdAddressStore: a release, then a later bind of the name that got no answer (a review, 2026-12-06)', () => {
  for (const releaseAnswer of ['late', 'lost'] as const) {
    it(`the release's answer ${releaseAnswer}: the unanswered bind's mark is a stray and goes`, async () => {
      const prefix = uniquePrefix(`served-release-${releaseAnswer}`);
      const { tap, e1 } = await tappedStore(prefix, undo);
      const e2 = await otherEnroller(prefix, undo);
      expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // B1: a served, its success counted
      await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
      const answer = gate();
      // The release commits; its answer comes after the bind below failed, or never.
      tap.hooks.after = (req) => {
        if (!deletesKey(`${prefix}names/a`)(req)) return undefined;
        return releaseAnswer === 'late' ? answer.held : Promise.reject(new Error('14 UNAVAILABLE: connection reset'));
      };
      const released = outcome(e1.release('a'));
      await until(() => e1.addressOf('a') === undefined, 2000, 'the watch shows the release');
      await bindUnanswered(tap, e1, prefix);
      answer.open();
      expect(await released).toMatch(releaseAnswer === 'late' ? /^answered true$/ : /^failed .*UNAVAILABLE/);
      // e1 released a and its only bind of it since failed: it serves nobody by that name (before the fix its
      // mark stayed while e1 ran).
      await strayGoes(e1, e2, prefix);
    }, 20_000);
  }
});

describeEtcd(
  'EtcdAddressStore: our mark deleted after a call of the name committed unanswered, or answered late (a review, 2026-12-06)',
  () => {
    for (const variant of ['rebind-lost', 'confirm-lost', 'confirm-late'] as const) {
      it(`${variant}: a released name's later unanswered bind leaves no mark behind`, async () => {
        const prefix = uniquePrefix(`served-deleted-${variant}`);
        const markKey = `${prefix}members/a/e1`;
        const { tap, e1 } = await tappedStore(prefix, undo);
        const e2 = await otherEnroller(prefix, undo);
        expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // B1: a served, its success counted
        await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
        await until(() => e1.stats().watchEvents >= 4, 2000, 'e1 sees its mark'); // (its registration, and B1's 3 keys)

        // A second call of a re-writes the mark, its success not known when the release's deletion is shown.
        const answer = gate();
        const seen = e1.stats().watchEvents;
        let second: Promise<string>;
        if (variant === 'rebind-lost') {
          tap.hooks.after = (req) => {
            if (!putsKey(markKey)(req)) return undefined;
            tap.hooks.after = undefined;
            return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')); // committed, answer lost
          };
          second = outcome(e1.bind({ name: 'a', address: 5 }));
          expect(await second).toMatch(/failed .*DEADLINE/);
          await until(() => e1.stats().watchEvents >= seen + 3, 2000, 'the watch shows the re-bind');
        } else {
          tap.hooks.after = (req) => {
            if (!isConfirm(prefix, 'a')(req)) return undefined;
            tap.hooks.after = undefined;
            if (variant === 'confirm-lost') return Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded'));
            return answer.held; // committed; its answer comes after the watch shows the release
          };
          second = outcome(e1.confirm({ name: 'a', address: 5 }));
          if (variant === 'confirm-lost') expect(await second).toMatch(/failed .*DEADLINE/);
          await until(() => e1.stats().watchEvents >= seen + 1, 2000, 'the watch shows the confirm');
        }

        // The release commits (binding and our mark deleted); its answer is lost.
        tap.hooks.after = (req) =>
          deletesKey(`${prefix}names/a`)(req) ? Promise.reject(new Error('14 UNAVAILABLE: connection reset')) : undefined;
        expect(await outcome(e1.release('a'))).toMatch(/failed .*UNAVAILABLE/);
        await until(() => e1.addressOf('a') === undefined, 2000, 'the watch shows the release');
        if (variant === 'confirm-late') {
          answer.open();
          expect(await second).toBe('answered true'); // etcd's answer at its commit, before the release
        }
        await bindUnanswered(tap, e1, prefix);
        await strayGoes(e1, e2, prefix); // (before the fix the mark stayed while e1 ran)
      }, 20_000);
    }
  },
);

describeEtcd('EtcdAddressStore: our mark deleted while the watch is down (a review, 2026-12-06)', () => {
  it("a release with its answer lost, not seen live: a later unanswered bind's mark is a stray and goes", async () => {
    const prefix = uniquePrefix('served-deleted-resync');
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // B1: a served, its success counted
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    await until(() => e1.stats().watchEvents >= 4, 2000, 'e1 sees its mark');

    const resume = await watchDownReadHeld(tap); // the read again waits until the release has committed

    tap.hooks.after = (req) =>
      deletesKey(`${prefix}names/a`)(req) ? Promise.reject(new Error('14 UNAVAILABLE: connection reset')) : undefined;
    await expect(e1.release('a')).rejects.toThrow(/UNAVAILABLE/); // committed, its answer lost
    expect(await readKey(`${prefix}names/a`)).toBeNull();
    resume();
    await until(() => e1.addressOf('a') === undefined, 3000, 'the read again shows a gone');
    await bindUnanswered(tap, e1, prefix);
    await strayGoes(e1, e2, prefix);
  }, 20_000);
});

describeEtcd('EtcdAddressStore: our marks the watch never showed, found by a read again (a review, 2026-12-06)', () => {
  it('a mark bound and released while the watch was down: the success undone, a later unanswered bind is a stray', async () => {
    const prefix = uniquePrefix('served-resync-unseen');
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    await until(() => e1.stats().watchEvents >= 1, 2000, 'e1 sees its registration');
    const resume = await watchDownReadHeld(tap);
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true); // counted; the table never shows its mark
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a');
    tap.hooks.after = (req) =>
      deletesKey(`${prefix}names/a`)(req) ? Promise.reject(new Error('14 UNAVAILABLE: connection reset')) : undefined;
    await expect(e1.release('a')).rejects.toThrow(/UNAVAILABLE/); // committed, its answer lost
    expect(await readKey(`${prefix}members/a/e1`)).toBeNull();
    tap.hooks.after = undefined;
    resume();
    await until(() => e1.addressOf('a') === undefined, 3000, 'the read again shows a gone');
    await bindUnanswered(tap, e1, prefix);
    await strayGoes(e1, e2, prefix); // (before the fix the mark stayed while e1 ran)
  }, 20_000);

  it('an unanswered bind committed while the watch was down: its mark, first seen in the read, is a stray', async () => {
    const prefix = uniquePrefix('served-resync-stray');
    const { tap, e1 } = await tappedStore(prefix, undo);
    const e2 = await otherEnroller(prefix, undo);
    await until(() => e1.stats().watchEvents >= 1, 2000, 'e1 sees its registration');
    const resume = await watchDownReadHeld(tap);
    tap.hooks.after = (req) =>
      putsKey(`${prefix}addresses/7`)(req) ? Promise.reject(new Error('4 DEADLINE_EXCEEDED: Deadline exceeded')) : undefined;
    await expect(e1.bind({ name: 'a', address: 7 })).rejects.toThrow(/DEADLINE/); // committed, its answer lost
    tap.hooks.after = undefined;
    expect(await readKey(`${prefix}members/a/e1`)).not.toBeNull();
    resume();
    await until(() => e1.addressOf('a') === 7, 3000, 'the read again shows a');
    await strayGoes(e1, e2, prefix); // (before the fix the mark stayed while e1 ran)
  }, 20_000);
});
