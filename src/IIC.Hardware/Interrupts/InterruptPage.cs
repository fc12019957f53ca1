using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using IIC.Native;

namespace IIC.Hardware;

/// <summary>
/// The Intelligent Interrupt Capability: where one receiving thread sleeps and its senders wake it, and only
/// when it actually sleeps. Layout (from the block's start, each hot word on its own 128-byte line):
/// <code>
/// +0    header: magic "IRQ1" (uint32), version (uint32), vector count (uint32)
/// +128  seq: the futex word (int32), bumped by each waker
/// +256  sleeping (int32), 1 while the receiver is (about to be) in futex_wait; raised-at (int64, +8): the
///       waker's CLOCK_MONOTONIC timestamp, so the receiver can learn the platform's wake-up latency
/// +384  summary (uint64): bit w set when pending word w may have bits
/// +512  pending: vector count / 64 words (uint64), one bit per vector (channel endpoint)
/// </code>
/// Protocol (docs/architecture.md, "The wake-up protocol"): a sender raises a vector only when the receiver armed the
/// ring, only a 0 to 1 pending edge may wake, and only a receiver that set <c>sleeping</c> is woken (futex).
/// Both sides order their store before their load with a full fence (Dekker), so no wake-up is lost; the
/// receiver still parks with a timeout and treats every wake as a hint.
/// </summary>
public sealed unsafe class InterruptPage : ISleepSite
{
    /// <summary>"IRQ1", little-endian.</summary>
    public const uint Magic = 0x31515249;

    /// <summary>The layout version.</summary>
    public const uint Version = 1;

    /// <summary>Offset of the magic (u32), stored last when formatting.</summary>
    internal const int MagicOffset = 0;

    /// <summary>Offset of the version (u32).</summary>
    internal const int VersionOffset = MagicOffset + sizeof(uint);

    /// <summary>Offset of the vector count (u32).</summary>
    internal const int VectorCountOffset = VersionOffset + sizeof(uint);

    /// <summary>Offset of the futex word: the line after the header's.</summary>
    internal const int SeqOffset = MagicOffset + Smp.PaddedLineSize;

    /// <summary>Offset of the sleeping flag: a line of its own (the receiver writes it, wakers CAS it).</summary>
    internal const int SleepingOffset = SeqOffset + Smp.PaddedLineSize;

    /// <summary>Offset of the waker's timestamp, beside the flag the waker just took.</summary>
    internal const int RaisedAtOffset = SleepingOffset + sizeof(long);

    /// <summary>Offset of the summary word.</summary>
    internal const int SummaryOffset = SleepingOffset + Smp.PaddedLineSize;

    /// <summary>Offset of the pending bitmap.</summary>
    internal const int PendingOffset = SummaryOffset + Smp.PaddedLineSize;

    /// <summary>The most vectors a page has (64 pending words, one summary word).</summary>
    public const int MaxVectorCount = 4096;

    private readonly byte* _page;
    private readonly int _vectorCount;

    // The receiving process's sleepers on this page (process-local, never shared): the shared sleeping flag is one word
    // for all of them, so only the last one to withdraw may clear it (see AnnounceSleep). Guarded by _sleepLock.
    private readonly Lock _sleepLock = new();
    private int _sleepers;

    private InterruptPage(byte* page, int vectorCount)
    {
        _page = page;
        _vectorCount = vectorCount;
    }

    /// <summary>The number of vectors (pending bits).</summary>
    public int VectorCount => _vectorCount;

    /// <summary>The bytes a page with <paramref name="vectorCount"/> vectors occupies.</summary>
    public static int SizeFor(int vectorCount) => PendingOffset + Math.Max(Smp.PaddedLineSize, (vectorCount / 8 + Smp.PaddedLineSize - 1) & ~(Smp.PaddedLineSize - 1));

    /// <summary>The futex word's address (for dispatchers that wait on many pages with futex_waitv). Valid while the mapping is leased.</summary>
    internal int* SequenceWord => (int*)(_page + SeqOffset);

    private int* Seq => (int*)(_page + SeqOffset);

    private int* Sleeping => (int*)(_page + SleepingOffset);

    private long* RaisedAt => (long*)(_page + RaisedAtOffset);

    private long* Summary => (long*)(_page + SummaryOffset);

    private long* Pending => (long*)(_page + PendingOffset);

    /// <summary>Formats a fresh page at <paramref name="page"/> (zeroed memory of <see cref="SizeFor"/> bytes) and returns it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The vector count is not a multiple of 64 from 64 to <see cref="MaxVectorCount"/>.</exception>
    internal static InterruptPage Format(byte* page, int vectorCount)
    {
        if (vectorCount < 64 || vectorCount > MaxVectorCount || vectorCount % 64 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(vectorCount), vectorCount, $"An interrupt page has a multiple of 64 vectors, from 64 to {MaxVectorCount}.");
        }
        CheckAligned(page);
        WriteHeader(page, vectorCount);
        return new InterruptPage(page, vectorCount);
    }

    /// <summary>
    /// Writes a fresh page's header (version, vector count, then the magic with release) at <paramref name="page"/>: in
    /// place (<see cref="Format"/>) or into a buffer that the hypervisor writes into a window's file before anyone else
    /// has it (<see cref="HeldWindow"/>). The vector count was validated by the caller.
    /// </summary>
    internal static void WriteHeader(byte* page, int vectorCount)
    {
        *(uint*)(page + VersionOffset) = Version;
        *(uint*)(page + VectorCountOffset) = (uint)vectorCount;
        Volatile.Write(ref *(uint*)(page + MagicOffset), Magic); // release, last: partner of Attach's acquire load of the magic
    }

    /// <summary>
    /// A page this process formatted itself with <paramref name="vectorCount"/> vectors (a window's embedded block, mapped
    /// again by the hypervisor to mark a side dead): nothing is read from the shared memory, which a partition may have
    /// overwritten since; the vector count is the creator's own. For raising and waking only.
    /// </summary>
    internal static InterruptPage FormattedBefore(byte* page, int vectorCount)
    {
        CheckAligned(page);
        return new InterruptPage(page, vectorCount);
    }

    /// <summary>Attaches to a page formatted by someone else, validating its header (read once).</summary>
    /// <param name="page">The block's first byte.</param>
    /// <param name="available">Bytes available from <paramref name="page"/> to the end of the mapping.</param>
    /// <exception cref="InvalidDataException">The header is not a valid interrupt page.</exception>
    internal static InterruptPage Attach(byte* page, long available)
    {
        CheckAligned(page);
        if (available < PendingOffset + Smp.PaddedLineSize)
        {
            throw new InvalidDataException($"An interrupt page needs at least {PendingOffset + Smp.PaddedLineSize} bytes; only {available} are mapped.");
        }
        var magic = Volatile.Read(ref *(uint*)(page + MagicOffset)); // acquire: partner of Format's release store
        var version = *(uint*)(page + VersionOffset);
        var vectors = *(uint*)(page + VectorCountOffset);
        if (magic != Magic || version != Version || vectors < 64 || vectors > MaxVectorCount || vectors % 64 != 0 || SizeFor((int)vectors) > available)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Not a valid interrupt page: magic 0x{magic:x8} (want 0x{Magic:x8}), version {version} (want {Version}), {vectors} vectors (want a multiple of 64 up to {MaxVectorCount} fitting in {available} bytes)."));
        }
        return new InterruptPage(page, (int)vectors);
    }

    /// <summary>
    /// Sender side: raises <paramref name="vector"/>. The caller has already published its record, issued a
    /// full fence and seen the ring armed. Returns true if it woke the sleeper (a futex_wake was made).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The vector is outside the page.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Raise(int vector)
    {
        if ((uint)vector >= (uint)_vectorCount)
        {
            ThrowBadVector(vector);
        }
        var word = vector >> 6;
        var bit = 1L << (vector & 63);
        var old = Interlocked.Or(ref Pending[word], bit); // full fence
        if ((old & bit) != 0)
        {
            return false; // only a 0 -> 1 edge may wake: the receiver has not taken the previous raise yet
        }
        Interlocked.Or(ref *Summary, 1L << word);
        // Dekker: our stores above are ordered before this load by the interlocked ops (full fences).
        if (Volatile.Read(ref *Sleeping) == 1 && Interlocked.CompareExchange(ref *Sleeping, 0, 1) == 1)
        {
            Volatile.Write(ref *RaisedAt, Stopwatch.GetTimestamp());
            Interlocked.Increment(ref *Seq);
            // Every sleeper: two threads of the receiving process may sleep on one block (a blocking receive and the
            // async dispatcher on a default multi-reader channel), and the one we took the flag from may not be the
            // one the kernel would pick. The syscall costs the same; the kernel wakes only those that wait.
            Futex.Wake(Seq, int.MaxValue);
            return true;
        }
        return false;
    }

    /// <summary>
    /// Marks <paramref name="vector"/> pending and wakes the receiver unconditionally (close and peer death: a
    /// group receiver learns which channel changed, and a spinning or armed one alike sees it).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The vector is outside the page.</exception>
    public void RaiseAlways(int vector)
    {
        if ((uint)vector >= (uint)_vectorCount)
        {
            ThrowBadVector(vector);
        }
        var word = vector >> 6;
        Interlocked.Or(ref Pending[word], 1L << (vector & 63));
        Interlocked.Or(ref *Summary, 1L << word);
        WakeAlways();
    }

    /// <summary>
    /// Marks <paramref name="vector"/> pending like <see cref="RaiseAlways"/>, but makes the futex call only when the receiver
    /// announced sleep (<see cref="WakeIfSleeping"/>): a channel's close, where the receiver is usually awake or gone and the
    /// unconditional wake was a syscall per close for nobody. The caller made the change the receiver must see (the side
    /// state) with a full fence before this; the pending bit's own fence then orders it before the load of the flag.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The vector is outside the page.</exception>
    internal void RaiseIfSleeping(int vector)
    {
        if ((uint)vector >= (uint)_vectorCount)
        {
            ThrowBadVector(vector);
        }
        var word = vector >> 6;
        Interlocked.Or(ref Pending[word], 1L << (vector & 63)); // full fence
        Interlocked.Or(ref *Summary, 1L << word); // full fence: the bits are visible before the load below (S5's Dekker)
        WakeIfSleeping();
    }

    /// <summary>
    /// Wakes the receiver only if it announced sleep: S5's half of the sleep handshake (as <see cref="Raise"/> does after its
    /// pending bit). The caller must have made what the sleeper re-checks (the side state, a disposal flag, a pending bit)
    /// visible with a full fence before this load: a sleeper announces (a full fence, R3) and then re-checks it, so either
    /// we load sleeping = 1 here and wake it, or its re-check sees our change and it does not sleep. A waker that took the
    /// flag first wakes every sleeper itself. Returns true if a futex wake was made.
    /// </summary>
    internal bool WakeIfSleeping()
    {
        if (Volatile.Read(ref *Sleeping) == 1 && Interlocked.CompareExchange(ref *Sleeping, 0, 1) == 1)
        {
            Interlocked.Increment(ref *Seq);
            Futex.Wake(Seq, int.MaxValue); // every sleeper of the block (S6)
            return true;
        }
        return false;
    }

    /// <summary>Wakes the receiver unconditionally (for shutdown); sets no pending bit.</summary>
    public void WakeAlways()
    {
        Interlocked.Exchange(ref *Sleeping, 0);
        Interlocked.Increment(ref *Seq);
        Futex.Wake(Seq, int.MaxValue);
    }

    /// <summary>Receiver side: whether any vector is pending.</summary>
    public bool HasPending => Volatile.Read(ref *Summary) != 0;

    /// <summary>Whether the receiver announced sleep and has not cancelled it (tests: a parked waiter armed on this block).</summary>
    internal bool SleepAnnounced => Volatile.Read(ref *Sleeping) == 1;

    /// <summary>
    /// Receiver side: takes every pending bit (clearing them, each with one atomic exchange) into
    /// <paramref name="vectors"/>, one bit per vector. Cost grows with the raised vectors, not with the idle ones.
    /// </summary>
    /// <exception cref="ArgumentException">The span is shorter than <see cref="VectorCount"/> / 64.</exception>
    public void TakePending(Span<long> vectors)
    {
        if (vectors.Length < _vectorCount / 64)
        {
            throw new ArgumentException($"Needs {_vectorCount / 64} words for {_vectorCount} vectors.", nameof(vectors));
        }
        var summary = Interlocked.Exchange(ref *Summary, 0);
        var words = _vectorCount / 64;
        while (summary != 0)
        {
            var word = System.Numerics.BitOperations.TrailingZeroCount(summary);
            summary &= summary - 1;
            if (word < words)
            {
                vectors[word] |= Interlocked.Exchange(ref Pending[word], 0);
            }
        }
    }

    /// <summary>
    /// Receiver side: takes every pending bit like <see cref="TakePending"/>, but stores each word it took into
    /// <paramref name="vectors"/> (overwriting it) and returns which words those are, one bit per word: the caller reads
    /// only those, so finding the raised vectors costs the raised words, never the page's 64 (nothing to clear first).
    /// The summary is the peer's to write: bits beyond the page's words are dropped.
    /// </summary>
    /// <exception cref="ArgumentException">The span is shorter than <see cref="VectorCount"/> / 64.</exception>
    internal ulong TakePendingWords(Span<long> vectors)
    {
        if (vectors.Length < _vectorCount / 64)
        {
            throw new ArgumentException($"Needs {_vectorCount / 64} words for {_vectorCount} vectors.", nameof(vectors));
        }
        var words = _vectorCount / 64;
        var summary = (ulong)Interlocked.Exchange(ref *Summary, 0) & (words == 64 ? ulong.MaxValue : (1UL << words) - 1); // read once
        for (var rest = summary; rest != 0; rest &= rest - 1)
        {
            var word = System.Numerics.BitOperations.TrailingZeroCount(rest);
            vectors[word] = Interlocked.Exchange(ref Pending[word], 0);
        }
        return summary;
    }

    /// <summary>Receiver side: clears every pending bit without reporting them (a single-vector receiver re-checks its ring).</summary>
    public void ClearPending()
    {
        var summary = Interlocked.Exchange(ref *Summary, 0);
        var words = _vectorCount / 64;
        while (summary != 0)
        {
            var word = System.Numerics.BitOperations.TrailingZeroCount(summary);
            summary &= summary - 1;
            if (word < words)
            {
                Interlocked.Exchange(ref Pending[word], 0);
            }
        }
    }

    /// <summary>
    /// Receiver side, the Dekker half before a sleep (the one implementation for <see cref="Waiter"/> and the
    /// async dispatcher): reads the futex word, announces sleep with a full fence, then re-checks the target and the
    /// pending bits. Its partner is the sender's fence-then-load in <see cref="Doorbell.Ring"/> and <see cref="Raise"/>:
    /// either the sender sees <c>sleeping</c> = 1 and wakes us, or we see its record or its pending bit here.
    /// The target must be armed already.
    /// </summary>
    /// <param name="target">What the receiver waits on.</param>
    /// <param name="sequence">The futex word's value to sleep on when the result is <see cref="SleepCheck.Announced"/>.</param>
    /// <returns><see cref="SleepCheck.Announced"/>: sleep on <paramref name="sequence"/> now (<see cref="Sleep"/> or futex_waitv);
    /// otherwise the announcement was withdrawn and the caller must not sleep.</returns>
    internal SleepCheck PrepareSleep<TTarget>(ref TTarget target, out int sequence)
        where TTarget : struct, IWaitTarget
    {
        sequence = ReadSequence(); // before the announcement: a raise after it bumps seq and futex_wait returns at once
        AnnounceSleep(); // full fence: sleeping = 1 is visible before the re-checks below
        if (target.IsReady)
        {
            CancelSleep();
            return SleepCheck.Ready;
        }
        if (HasPending)
        {
            CancelSleep();
            return SleepCheck.Pending;
        }
        return SleepCheck.Announced;
    }

    SleepCheck ISleepSite.PrepareSleep<TTarget>(ref TTarget target, out int sequence) => PrepareSleep(ref target, out sequence);

    /// <summary>Receiver side: the futex word's value, read before announcing sleep.</summary>
    public int ReadSequence() => Volatile.Read(ref *Seq);

    /// <summary>
    /// Receiver side: announces sleep (exchange: a full fence). Re-check for data after it, then <see cref="Sleep"/>.
    /// Each announcement must be withdrawn exactly once (<see cref="CancelSleep"/>, or <see cref="Sleep"/> which does).
    /// <para>Several threads of this process may sleep on one page (a blocking receive and the async dispatcher on one
    /// channel). The shared flag is one word, so the announcements are counted here, process-locally: every announcement
    /// stores 1 with its own full fence (a waker may have taken the flag from an earlier sleeper: this sleeper needs it
    /// again), and only the last withdrawal stores 0. Were the first sleeper to end to clear it, a raise would find 0
    /// and wake nobody while the other still sleeps: a lost wake-up. The lock orders the count with the stores (an
    /// announcement between the last withdrawal's decrement and its store would otherwise be erased); it is taken only
    /// on the way to and from a sleep, never on a spin.</para>
    /// </summary>
    public void AnnounceSleep()
    {
        lock (_sleepLock)
        {
            _sleepers++;
            Interlocked.Exchange(ref *Sleeping, 1); // R3: full fence, partner S5
        }
    }

    /// <summary>Receiver side: withdraws this thread's announcement; the flag is cleared when no other sleeper of this process remains.</summary>
    public void CancelSleep()
    {
        lock (_sleepLock)
        {
            Debug.Assert(_sleepers > 0, "every withdrawal pairs with one announcement");
            if (--_sleepers <= 0)
            {
                _sleepers = 0;
                Volatile.Write(ref *Sleeping, 0);
            }
        }
    }

    /// <summary>This process's announced sleepers on the page (tests).</summary>
    internal int Sleepers
    {
        get
        {
            lock (_sleepLock)
            {
                return _sleepers;
            }
        }
    }

    /// <summary>
    /// Receiver side: sleeps while the futex word still equals <paramref name="sequence"/>, at most
    /// <paramref name="timeout"/>, then withdraws the sleep announcement.
    /// </summary>
    /// <returns>The futex outcome: every outcome is a hint.</returns>
    public FutexWaitResult Sleep(int sequence, TimeSpan timeout)
    {
        var result = Futex.Wait(Seq, sequence, timeout);
        CancelSleep();
        return result;
    }

    /// <summary>The waker's timestamp of the last wake (Stopwatch ticks), read once; 0 if none.</summary>
    public long ReadRaisedAt() => Volatile.Read(ref *RaisedAt);

    private static void CheckAligned(byte* page)
    {
        if (((nint)page & (Smp.PaddedLineSize - 1)) != 0)
        {
            throw new ArgumentException($"An interrupt page must start on a {Smp.PaddedLineSize}-byte boundary.", nameof(page));
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadVector(int vector) => throw new ArgumentOutOfRangeException(nameof(vector), vector, $"Vector must be in [0, {_vectorCount}).");
}
