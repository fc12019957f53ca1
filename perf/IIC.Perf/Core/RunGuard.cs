using System.Diagnostics;

namespace IIC.Perf.Core;

/// <summary>
/// Bounds every wait of one measurement: an overall deadline, and a token cancelled when the peer process is gone.
/// Spin loops call <see cref="Check"/> every few thousand iterations; blocking calls take <see cref="Remaining"/> as
/// their timeout.
/// </summary>
internal sealed class RunGuard
{
    private readonly long _deadline;
    private readonly CancellationToken _peerGone;

    public RunGuard(TimeSpan limit, CancellationToken peerGone)
    {
        Limit = limit;
        _deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        _peerGone = peerGone;
    }

    /// <summary>The whole time allowed.</summary>
    public TimeSpan Limit { get; }

    /// <summary>Time left before the deadline (zero when past it).</summary>
    public TimeSpan Remaining
    {
        get
        {
            var left = _deadline - Stopwatch.GetTimestamp();
            return left <= 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(0, left);
        }
    }

    /// <summary>Milliseconds left, at least 1, for APIs that take an int timeout.</summary>
    public int RemainingMilliseconds => (int)Math.Clamp(Remaining.TotalMilliseconds, 1, int.MaxValue);

    /// <summary>True once the peer is gone (its process exited before the measurement ended).</summary>
    public bool PeerGone => _peerGone.IsCancellationRequested;

    /// <summary>Throws when the deadline has passed or the peer is gone.</summary>
    /// <exception cref="TimeoutException">The deadline passed.</exception>
    /// <exception cref="PeerGoneException">The peer process exited.</exception>
    public void Check()
    {
        if (_peerGone.IsCancellationRequested)
        {
            throw new PeerGoneException("The peer process exited in the middle of the measurement.");
        }
        if (Stopwatch.GetTimestamp() > _deadline)
        {
            throw new TimeoutException($"Gave up waiting for the peer after {Limit.TotalSeconds:0.#} s (a hung or starved process).");
        }
    }
}
