using System.Diagnostics;

namespace IIC.Tests;

/// <summary>Bounded waits on a condition another thread or process makes true: spin briefly, then sleep in growing steps.</summary>
public static class WaitFor
{
    /// <summary>The bound every helper wait uses unless told otherwise; far above what a healthy run needs.</summary>
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromSeconds(10);

    /// <summary>Returns once <paramref name="condition"/> holds; fails the test after <paramref name="timeout"/>.</summary>
    /// <param name="condition">Checked repeatedly; must be cheap and side-effect free.</param>
    /// <param name="description">What is awaited, for the failure message.</param>
    /// <param name="timeout">The bound (default <see cref="DefaultTimeout"/>).</param>
    /// <param name="diagnostics">Extra text for the failure message (e.g. a child's stderr), computed only on failure.</param>
    public static void Condition(Func<bool> condition, string description, TimeSpan? timeout = null, Func<string>? diagnostics = null)
    {
        if (!TryCondition(condition, timeout ?? DefaultTimeout))
        {
            Xunit.Assert.Fail($"Timed out after {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s waiting for: {description}.{(diagnostics is null ? "" : Environment.NewLine + diagnostics())}");
        }
    }

    /// <summary>Waits until <paramref name="condition"/> holds or <paramref name="timeout"/> passes; returns whether it held.</summary>
    public static bool TryCondition(Func<bool> condition, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var start = Stopwatch.GetTimestamp();
        var spinner = new SpinWait();
        var sleep = 1;
        while (!condition())
        {
            if (Stopwatch.GetElapsedTime(start) >= timeout)
            {
                return condition();
            }
            if (!spinner.NextSpinWillYield)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            else
            {
                // Polling a condition, not sleeping in place of synchronisation: each pass re-checks it.
                Thread.Sleep(sleep);
                sleep = Math.Min(sleep * 2, 16);
            }
        }
        return true;
    }

    /// <summary>
    /// Returns once <paramref name="condition"/> (an asynchronous check, e.g. a call asking a server process) holds; fails
    /// the test after <paramref name="timeout"/>. Each pass awaits the check, then a growing pause of up to 16 ms.
    /// </summary>
    /// <param name="condition">Checked repeatedly; must be side-effect free.</param>
    /// <param name="description">What is awaited, for the failure message.</param>
    /// <param name="timeout">The bound (default <see cref="DefaultTimeout"/>).</param>
    public static async Task ConditionAsync(Func<Task<bool>> condition, string description, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var bound = timeout ?? DefaultTimeout;
        var start = Stopwatch.GetTimestamp();
        var pause = 1;
        while (!await condition())
        {
            if (Stopwatch.GetElapsedTime(start) >= bound)
            {
                Xunit.Assert.Fail($"Timed out after {bound.TotalSeconds:0.#} s waiting for: {description}.");
            }
            // Polling a condition, not a delay in place of synchronisation: each pass re-checks it.
            await Task.Delay(pause);
            pause = Math.Min(pause * 2, 16);
        }
    }
}
