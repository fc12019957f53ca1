using System.Diagnostics;
using System.Globalization;

namespace IIC.Native;

/// <summary>A point in monotonic time for calls that retry (EINTR, EAGAIN) with the time that is left.</summary>
internal readonly struct Deadline
{
    private readonly long _end; // Stopwatch timestamp; long.MaxValue means no deadline

    private Deadline(long end) => _end = end;

    /// <summary>True when there is no deadline (the timeout was <see cref="Timeout.InfiniteTimeSpan"/>).</summary>
    public bool IsInfinite => _end == long.MaxValue;

    /// <summary>Starts a deadline <paramref name="timeout"/> from now.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The timeout is negative and not <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public static Deadline After(TimeSpan timeout, string parameterName = "timeout")
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return new Deadline(long.MaxValue);
        }
        if (timeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(parameterName, timeout, string.Create(CultureInfo.InvariantCulture,
                $"A timeout must be zero or positive, or Timeout.InfiniteTimeSpan; got {timeout}."));
        }
        var ticks = timeout.Ticks * ((double)Stopwatch.Frequency / TimeSpan.TicksPerSecond);
        var now = Stopwatch.GetTimestamp();
        return new Deadline(ticks >= long.MaxValue - now ? long.MaxValue - 1 : now + (long)ticks);
    }

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
}
