using System.Diagnostics;

namespace IIC.Transport;

/// <summary>Arming the incoming ring: counted per waiter of this process (docs/architecture.md, "Several waiters on one channel").</summary>
internal sealed unsafe partial class WindowEndpoint
{
    // The waiters that armed the incoming ring and have not disarmed it yet, in this process (never shared). Guarded by
    // _armLock. See ArmReceive.
    private readonly Lock _armLock = new();
    private int _arms;

    /// <summary>
    /// Arms the incoming ring for one more waiter, with a full fence before it returns: the peer rings the doorbell after
    /// each publish until every waiter that armed it called <see cref="DisarmReceive"/> once.
    /// <para>The ring has one "armed" word and up to three waiters of this process may want it set at once: the thread
    /// that holds the receive role (a blocking or timed receive, a ReceiveAsync's inline spin), the async dispatcher, and
    /// a channel group. Were it a flag, the first to end its wait would clear it under the others, and they would hear of
    /// the next message only when their sleep timed out (issue 17 round 8: the root of the 1 s and 100 ms bounds). So
    /// the arms are counted here: the shared word is set when the count leaves 0 and cleared when it returns to 0, both
    /// under <c>_armLock</c>, and only on the way to or from a sleep (never on a spin or per message).</para>
    /// <para>Ordering: the first arm is the ring's own R1/R1' (an exchange, or a store and a global membarrier), done
    /// under the lock. A later arm finds the word set since that fence without a gap (it is cleared only at count 0,
    /// under the same lock), so every publish either loads armed = 1 (its doorbell rings) or was ordered before that
    /// fence and is visible to this waiter's re-check; the full barrier here orders the re-check after our lock.</para>
    /// </summary>
    public void ArmReceive()
    {
        lock (_armLock)
        {
            if (_arms++ == 0)
            {
                _reader.Arm(); // R1/R1' (docs/architecture.md): store and fence complete before the lock is released
                return;
            }
        }
        Interlocked.MemoryBarrier(); // armed since an earlier waiter's fence: ours orders the caller's re-check after it
    }

    /// <summary>Withdraws one waiter's arm (each <see cref="ArmReceive"/> is paired with exactly one); the last one disarms the ring (R7).</summary>
    public void DisarmReceive()
    {
        lock (_armLock)
        {
            Debug.Assert(_arms > 0, "every disarm pairs with one arm");
            if (--_arms <= 0)
            {
                _arms = 0;
                _reader.Disarm(); // R7
            }
        }
    }

    /// <summary>
    /// <see cref="DisarmReceive"/> unless the window is already released (safe against a Dispose on another thread:
    /// the lease keeps the mapping while we write). A channel group calls it when a member leaves, so the peer stops
    /// raising a vector nobody reads. Returns false if the mapping was gone.
    /// </summary>
    internal bool TryDisarmReceive() => TryWithLease(static endpoint => endpoint.DisarmReceive());

    /// <summary>The waiters of this process that have the incoming ring armed now (tests).</summary>
    internal int ReceiveArms
    {
        get
        {
            lock (_armLock)
            {
                return _arms;
            }
        }
    }

    /// <summary>Whether the incoming ring's shared "armed" word is set now, as the peer's doorbell reads it (tests).</summary>
    internal bool IsReceiveArmed => _reader.IsArmed;
}
