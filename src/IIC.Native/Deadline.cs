using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace IIC.Native;

/// <summary>
/// A point in monotonic time (a <see cref="Stopwatch"/> timestamp) that every layer waits against: the transport's
/// sends and receives, the hypervisor's requests, and the system calls that retry (EINTR, EAGAIN) with the time that
/// is left. One type, so a timeout given at the top is honoured all the way down.
/// <para><see cref="Timeout.InfiniteTimeSpan"/> and any timeout too long to represent (<see cref="TimeSpan.MaxValue"/>)
/// mean no limit (saturating arithmetic, never an overflow into the past); <c>default</c> is
/// <see cref="Immediate"/>: try once, do not wait.</para>
/// </summary>
internal readonly struct Deadline : IEquatable<Deadline>
{
    private readonly long _end; // Stopwatch timestamp; long.MaxValue means no deadline, 0 means do not wait

    private Deadline(long end) => _end = end;

    /// <summary>No limit.</summary>
    public static Deadline Infinite => new(long.MaxValue);

    /// <summary>Already passed: try once without waiting.</summary>
    public static Deadline Immediate => default;

    /// <summary>A deadline at a <see cref="Stopwatch"/> timestamp: 0 (or less) = <see cref="Immediate"/>, <see cref="long.MaxValue"/> = <see cref="Infinite"/>.</summary>
    public static Deadline AtTimestamp(long timestamp) => new(Math.Max(0, timestamp));

    /// <summary>True when there is no deadline.</summary>
    public bool IsInfinite => _end == long.MaxValue;

    /// <summary>True for <see cref="Immediate"/> (the caller asked not to wait at all).</summary>
    public bool IsImmediate => _end == 0;

    /// <summary>The <see cref="Stopwatch"/> timestamp it ends at; <see cref="long.MaxValue"/> = never, 0 = already.</summary>
    public long Timestamp => _end;

    /// <summary>
    /// Starts a deadline <paramref name="timeout"/> from now. The one place a public timeout is checked: a negative
    /// one is refused the same way everywhere, naming the caller's parameter.
    /// </summary>
    /// <param name="timeout">Zero or positive, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="parameterName">The public parameter the timeout came from (for the exception).</param>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public static Deadline After(TimeSpan timeout, string parameterName = "timeout")
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return Infinite;
        }
        ThrowIfNegative(timeout, parameterName);
        // Saturating: ticks * (Frequency / TicksPerSecond) in double, compared before it is added.
        var ticks = timeout.Ticks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);
        var now = Stopwatch.GetTimestamp();
        return ticks >= long.MaxValue - 1 - now ? Infinite : new Deadline(Math.Max(1, now + (long)ticks));
    }

    /// <summary>
    /// Refuses a negative timeout (other than <see cref="Timeout.InfiniteTimeSpan"/>) with the message every public call uses.
    /// Inlined: every timed receive, poll and send checks its timeout, and the check is one compare of the ticks; the
    /// exception and its interpolated message live out of line (<see cref="ThrowNegative"/>), so a caller's frame holds
    /// none of their state (issue 17, round 10: it was a call per timed receive).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ThrowIfNegative(TimeSpan timeout, string parameterName)
    {
        if (timeout.Ticks < 0 && timeout != Timeout.InfiniteTimeSpan)
        {
            ThrowNegative(timeout, parameterName);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNegative(TimeSpan timeout, string parameterName) => throw new ArgumentOutOfRangeException(parameterName, timeout,
        $"{parameterName} cannot be negative: pass TimeSpan.Zero to try once without waiting, or Timeout.InfiniteTimeSpan (or TimeSpan.MaxValue) to wait as long as needed.");

    /// <summary>The earlier of two deadlines.</summary>
    public static Deadline Min(Deadline a, Deadline b) => a._end <= b._end ? a : b;

    /// <summary>The time left (zero once passed); <see cref="Timeout.InfiniteTimeSpan"/> when there is no deadline.</summary>
    public TimeSpan Remaining
    {
        get
        {
            if (IsInfinite)
            {
                return Timeout.InfiniteTimeSpan;
            }
            var left = _end - Stopwatch.GetTimestamp();
            return left <= 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, left);
        }
    }

    /// <summary>The time left for poll(2): -1 for none, otherwise milliseconds rounded up (so a short wait is not a busy poll).</summary>
    public int RemainingMilliseconds
    {
        get
        {
            var remaining = Remaining;
            if (remaining == Timeout.InfiniteTimeSpan)
            {
                return -1;
            }
            var milliseconds = Math.Ceiling(remaining.TotalMilliseconds);
            return milliseconds >= int.MaxValue ? int.MaxValue : (int)milliseconds;
        }
    }

    /// <summary>True once the deadline has passed (never for an infinite one).</summary>
    public bool HasPassed => !IsInfinite && Stopwatch.GetTimestamp() >= _end;

    /// <inheritdoc />
    public bool Equals(Deadline other) => _end == other._end;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Deadline other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => _end.GetHashCode();

    /// <summary>Equal deadlines.</summary>
    public static bool operator ==(Deadline left, Deadline right) => left.Equals(right);

    /// <summary>Different deadlines.</summary>
    public static bool operator !=(Deadline left, Deadline right) => !left.Equals(right);

    /// <inheritdoc />
    public override string ToString() => IsInfinite ? "no deadline" : string.Create(CultureInfo.InvariantCulture, $"{Remaining.TotalMilliseconds:0.###} ms left");
}
