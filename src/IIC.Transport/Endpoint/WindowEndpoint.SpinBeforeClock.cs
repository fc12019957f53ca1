using System.Runtime.CompilerServices;
using IIC.Hardware;

namespace IIC.Transport;

/// <summary>The clock-free first spin of a receive or poll that waits (issue 17, round 7).</summary>
internal sealed partial class WindowEndpoint
{
    /// <summary>
    /// A short first spin with plain loads and no clock read, before a wait computes its deadline: what the raw rings do
    /// right after they publish. The deadline's clock read (and the waiter's own, for its budget) stood between a send
    /// and the first look for the reply; each is a <c>rdtsc</c> ordered after every earlier load, including the miss on
    /// the line the reply will arrive in, so together they left the receiver blind for tens of ns in the very window in
    /// which a near peer's reply lands. Only for waiters that would spin with plain loads anyway (busy spin, or a fixed
    /// spin budget of 4 µs or more: the waiter's own plain phase), and for timeouts of at least 1 ms (the spin, about
    /// 0.5-1 µs, is not charged to the timeout). <c>IIC_SPIN_BEFORE_CLOCK=0</c> turns it off (A/B runs).
    /// The caller is inside the receive role (the mapping stays while we read it).
    /// </summary>
    /// <returns>True when a receive would not block now (a record waits, the peer ended, or this side was disposed).</returns>
    private bool SpinBeforeClock(TimeSpan timeout)
    {
        if (!_spinsBeforeClock || (timeout < s_minTimeoutToSpinFirst && timeout != Timeout.InfiniteTimeSpan))
        {
            return false;
        }
        var target = new ReadTarget(this);
        for (var i = 0; i < SpinBeforeClockChecks; i++)
        {
            if (target.IsReady)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Whether a wait of <paramref name="timeout"/> starts with the clock-free spin (<see cref="SpinBeforeClock"/>'s rule,
    /// for the fast paths that spin before they enter a handler: one unsigned compare of validated ticks, infinite
    /// (-1 ms) reading as the largest). The timeout was validated (zero, positive or infinite).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SpinsFirstFor(TimeSpan timeout) => _spinsBeforeClock && (ulong)timeout.Ticks >= (ulong)TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// The fast paths' clock-free spin (<see cref="TryEnterWithRecord(bool, out ReadOnlySpan{byte}, out int)"/>): the ring was found empty, so the space consumed
    /// by earlier calls goes back to the writer first (as the slow path does before it waits), then up to
    /// <see cref="SpinForRecordPausedLooks"/> looks at the head's length word (<see cref="SpinBeforeClockChecks"/> without
    /// the pause); the look that sees a record has it peeked as a whole one-record message from the value it read
    /// (RingReader.TryPeekSeen). The caller is inside the receive role. Inlined (round 21; it was out of line so that
    /// TryPeekFast's inlined copy was not in every caller): the record it sees is handed back in registers, not through the
    /// stack, and no call and return sit between seeing a message and copying it out or handing it to a handler (quiet
    /// A/B: -2.8 ns per Send/Receive round trip, and with TryPeekSeen -10 ns per poll-claim round trip, near placement).
    /// </summary>
    /// <param name="payload">The record's payload, when true.</param>
    /// <param name="looks">How many looks it took to see the record, when true (at least 1; a register when inlined): how long
    /// the peer took to answer, in the clock-free unit of this spin (IicChannel.NoteReceive, round 22).</param>
    /// <returns>True with the record peeked; false when the spin ran out, the peer ended, this side was disposed or the head holds anything else (the slow path then reports or takes it).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe bool SpinForRecord(out ReadOnlySpan<byte> payload, out int looks)
    {
        _reader.PublishHeadIfStale();
        // One acquire load per look, of the head's length word (issue 17, round 13: the look was HasData's field loads and
        // address arithmetic plus the peer's state word and _disposed, three loads and a dozen instructions). The head does
        // not move while we spin (we are its only reader) and the mapping stays (we are inside the receive role), so the
        // word's address is computed once. The peer's end and our disposal change rarely: looked at every
        // EndCheckInterval + 1 looks, and the slow path the caller takes when the spin runs out reports them: noticing
        // them is delayed by a few looks at most.
        var offset = _reader.HeadOffset;
        var word = _reader.HeadWord;
        for (var i = 0; i < s_spinForRecordLooks; i++)
        {
            var length = Volatile.Read(ref *word); // acquire; partner the writer's publish
            if (length > 0)
            {
                if (Volatile.Read(ref _disposed) == 0)
                {
                    looks = i + 1;
                    // The value this look read is the one validated and used (round 21: TryPeekFast loaded the reader's
                    // fields and the length again, dependent loads between seeing the message and handing it out).
                    return _reader.TryPeekSeen(s_unfragmented, (byte*)word, offset, length, out payload);
                }
                break;
            }
            if ((i & EndCheckInterval) == EndCheckInterval && (PeerGone || Volatile.Read(ref _disposed) != 0))
            {
                break;
            }
            if (s_spinPause)
            {
                // A pause between looks (issue 17 round 13), as Agrona's BusySpinIdleStrategy (Thread.onSpinWait) and Aeron's
                // ping: the looks take the line the writer is filling from it less often, so its stores complete sooner
                // (quiet A/B, perf/RESULTS.md "Round 13": one-way poll and the poll-claim echo's p50 and p99 all lower).
                // IIC_SPIN_PAUSE=0 restores plain looks.
                System.Runtime.Intrinsics.X86.X86Base.Pause();
            }
        }
        payload = default;
        looks = 0;
        return false;
    }

    /// <summary>
    /// Whether <see cref="SpinForRecord"/> pauses between looks: on x86 unless <c>IIC_SPIN_PAUSE=0</c> (read once, folded
    /// by the JIT). Other architectures look without a pause, as before.
    /// </summary>
    private static readonly bool s_spinPause = System.Runtime.Intrinsics.X86.X86Base.IsSupported
        && Environment.GetEnvironmentVariable("IIC_SPIN_PAUSE") != "0";

    /// <summary>
    /// <see cref="SpinForRecord"/>'s looks: with a pause (about 25 ns on this Zen 4 VM, up to ~40 ns on recent Intel
    /// cores) 32 looks keep the clock-free spin under about 1 µs, the bound the timeout's documentation gives; without
    /// one, <see cref="SpinBeforeClockChecks"/> L1 hits do.
    /// </summary>
    private static readonly int s_spinForRecordLooks = s_spinPause ? SpinForRecordPausedLooks : SpinBeforeClockChecks;

    /// <summary>Looks of <see cref="SpinForRecord"/> when it pauses between them.</summary>
    internal const int SpinForRecordPausedLooks = 32;

    /// <summary>How often <see cref="SpinForRecord"/> looks at the peer's end and this side's disposal: every 16 looks.</summary>
    private const int EndCheckInterval = 15;

    /// <summary>Checks in <see cref="SpinBeforeClock"/>: a few hundred ns of L1 hits, more than a near round trip.</summary>
    internal const int SpinBeforeClockChecks = 512;

    private static readonly TimeSpan s_minTimeoutToSpinFirst = TimeSpan.FromMilliseconds(1);

    /// <summary>Whether this endpoint's waits of 1 ms or more start with <see cref="SpinBeforeClock"/> (fixed when it is made).</summary>
    internal bool SpinsBeforeClock => _spinsBeforeClock;

    /// <summary>The A/B switch of <see cref="SpinBeforeClock"/> (read when an endpoint is made).</summary>
    internal static bool SpinBeforeClockEnabled { get; set; } = Environment.GetEnvironmentVariable("IIC_SPIN_BEFORE_CLOCK") != "0";

    /// <summary>Whether this endpoint's waits start with <see cref="SpinBeforeClock"/>: its waiter spins with plain loads anyway.</summary>
    private static bool SpinsFirst(WaitStrategy strategy) => SpinBeforeClockEnabled
        && (strategy.Kind == WaitKind.BusySpin || (strategy.Kind == WaitKind.SpinThenPark && strategy.SpinBudget >= TimeSpan.FromMicroseconds(4)));
}
