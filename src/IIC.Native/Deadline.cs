using System.Diagnostics;
using System.Globalization;

namespace IIC.Native;

/// <summary>
/// A point in monotonic time (a <see cref="Stopwatch"/> timestamp) that a call carries down through the layers
/// instead of a timeout each layer re-computes: the one home of deadline arithmetic. It saturates: a timeout too
/// large to add to now (<see cref="TimeSpan.MaxValue"/>) is no limit, like <see cref="Timeout.InfiniteTimeSpan"/>.
/// Hot paths take its <see cref="Timestamp"/> (0: do not wait, <see cref="long.MaxValue"/>: no limit).
/// </summary>
internal readonly struct Deadline : IEquatable<Deadline>
{
    private const string NegativeTimeout = "A timeout cannot be negative: pass TimeSpan.Zero to try once without waiting, or Timeout.InfiniteTimeSpan to wait as long as needed.";

    private readonly long _end; // Stopwatch timestamp; long.MaxValue means no deadline, 0 one that has always passed

    private Deadline(long end) => _end = end;

    /// <summary>No limit.</summary>
    public static Deadline None => new(long.MaxValue);

    /// <summary>Already passed: try once, do not wait.</summary>
    public static Deadline Immediate => new(0);

    /// <summary>True when there is no deadline.</summary>
    public bool IsInfinite => _end == long.MaxValue;

    /// <summary>The <see cref="Stopwatch.GetTimestamp"/> value it ends at: 0 for <see cref="Immediate"/>, <see cref="long.MaxValue"/> for <see cref="None"/>.</summary>
    public long Timestamp => _end;

    /// <summary>Starts a deadline <paramref name="timeout"/> from now (saturating: a timeout too large to add is <see cref="None"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not <see cref="Timeout.InfiniteTimeSpan"/>: the message says what to pass instead.</exception>
    public static Deadline After(TimeSpan timeout, string parameterName = "timeout")
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return None;
        }
        if (timeout < TimeSpan.Zero)
        {
            ThrowNegative(timeout, parameterName);
        }
        var now = Stopwatch.GetTimestamp();
        var ticks = timeout.Ticks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);
        return ticks >= long.MaxValue - now ? None : new Deadline(now + (long)ticks);
    }

    /// <summary>A deadline at <paramref name="timestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value; <see cref="long.MaxValue"/> for none).</summary>
    public static Deadline At(long timestamp) => new(timestamp);

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

    /// <summary>The earlier of two deadlines.</summary>
    public static Deadline Min(Deadline a, Deadline b) => a._end <= b._end ? a : b;

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

    // Out of line: keeps the callers' hot paths small (the ThrowHelper pattern).
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowNegative(TimeSpan timeout, string parameterName) =>
        throw new ArgumentOutOfRangeException(parameterName, timeout, NegativeTimeout);
}
