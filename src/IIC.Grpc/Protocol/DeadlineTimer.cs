namespace IIC.Grpc.Protocol;

/// <summary>
/// A one-shot timer for a call's deadline, however far: <see cref="Timer"/> refuses a due time over ~49.7 days
/// (ArgumentOutOfRangeException), which a caller may well pass (<c>deadline: DateTime.UtcNow.AddDays(60)</c>, as
/// grpc-dotnet accepts). Such a deadline waits in steps of the longest due time, re-armed until it passed.
/// </summary>
internal static class DeadlineTimer
{
    /// <summary>The longest due time <see cref="Timer"/> takes: 0xFFFFFFFE ms.</summary>
    private static readonly TimeSpan s_longest = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    /// <summary>Runs <paramref name="callback"/> with <paramref name="state"/> once, <paramref name="due"/> from now (dispose the timer to stop it).</summary>
    public static Timer Start(TimerCallback callback, object state, TimeSpan due)
    {
        if (due <= s_longest)
        {
            return new Timer(callback, state, due, Timeout.InfiniteTimeSpan);
        }
        var now = DateTime.UtcNow;
        var far = new Far(callback, state, due >= DateTime.MaxValue - now ? DateTime.MaxValue : now + due);
        var timer = new Timer(static s => ((Far)s!).Tick(), far, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        far.Timer = timer;
        timer.Change(s_longest, Timeout.InfiniteTimeSpan); // armed once Tick can find its timer
        return timer;
    }

    /// <summary>A deadline beyond one due time: each tick re-arms the timer until the deadline passed.</summary>
    private sealed class Far(TimerCallback callback, object state, DateTime dueUtc)
    {
        public Timer? Timer;

        public void Tick()
        {
            var left = dueUtc - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                callback(state);
                return;
            }
            try
            {
                Timer!.Change(left < s_longest ? left : s_longest, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // the call ended meanwhile
            }
        }
    }
}
