using IIC.Native;

namespace IIC.Transport.Tests;

/// <summary>Runs alone: it pins the shared dispatcher thread to one CPU for a while, which would skew parallel tests.</summary>
[CollectionDefinition(nameof(DispatcherCpuRuleTests), DisableParallelization = true)]
public sealed class DispatcherCpuRuleTestsDefinition;

/// <summary>
/// The interrupt dispatcher learns like an adaptive Waiter (SpinLearning), CPU rule included: when the peer it polls
/// for can only run while the dispatcher gives its CPU away, it notices the hand-offs, enters contended mode and parks
/// now and then so the kernel can move it to an idle CPU. Real channels, threads pinned with sched_setaffinity; the
/// assertions are about counters, never about time.
/// </summary>
[Collection(nameof(DispatcherCpuRuleTests))]
public class DispatcherCpuRuleTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public Task A_dispatcher_sharing_its_cpu_with_the_peer_detects_the_hand_offs_and_parks_in_contended_mode()
        => PingPongPinnedAsync(); // off xunit's context: the continuations must run inline on the dispatcher

    private static async Task PingPongPinnedAsync()
    {
        Assert.True(Environment.ProcessorCount >= 2, "the dispatcher only polls with two or more CPUs; this test needs them");
        var allCpus = CpuAffinity.GetForCurrentThread();
        var cpu = allCpus[0];
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096, Name = "cpu-rule", UnsafePreferInlineCompletions = true });
        using (a)
        using (b)
        using (var stop = new CancellationTokenSource())
        {
            // The peer: an echo thread pinned to the CPU the dispatcher will be pinned to.
            var echo = new Thread(() =>
            {
                CpuAffinity.SetForCurrentThread([cpu]);
                var buffer = new byte[64];
                try
                {
                    while (true)
                    {
                        var length = a.Receive(buffer, stop.Token);
                        a.Send(buffer.AsSpan(0, length));
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }) { IsBackground = true, Name = "cpu-rule echo" };
            echo.Start();
            var pinned = false;
            InterruptDispatcher? dispatcher = null;
            try
            {
                var buffer = new byte[64];
                var deadline = DateTime.UtcNow + s_timeout;
                var rounds = 0;
                // Ping-pong until the dispatcher shows both halves of the rule (at most a minute on a loaded box).
                while (dispatcher is null || dispatcher.HandoffCompletions == 0 || dispatcher.ContendedParks == 0)
                {
                    Assert.True(DateTime.UtcNow < deadline,
                        $"after {rounds} round trips with the dispatcher and its peer on CPU {cpu}: hand-off completions {dispatcher?.HandoffCompletions}, " +
                        $"contended parks {dispatcher?.ContendedParks}, polled {dispatcher?.PolledCompletions}, parks {dispatcher?.Parks}");
                    var receive = b.ReceiveAsync(buffer);
                    b.Send("ping"u8);
                    Assert.Equal(4, await receive.ConfigureAwait(false));
                    rounds++;
                    if (!pinned && InterruptDispatcher.OnDispatcherThread)
                    {
                        // An inline continuation runs on the dispatcher thread: pin it next to the echo thread.
                        CpuAffinity.SetForCurrentThread([cpu]);
                        pinned = true;
                        dispatcher = b.AsyncReceive.Dispatcher;
                    }
                }
                Assert.True(rounds > 0);
            }
            finally
            {
                if (pinned)
                {
                    // Unpin the shared dispatcher from its own thread (the next inline continuation runs there).
                    var receive = b.ReceiveAsync(new byte[64]);
                    b.Send("unpin"u8);
                    await receive.ConfigureAwait(false);
                    Assert.True(InterruptDispatcher.OnDispatcherThread, "the unpinning continuation ran off the dispatcher");
                    CpuAffinity.SetForCurrentThread(allCpus);
                }
                await stop.CancelAsync();
                Assert.True(echo.Join(s_timeout), "the echo thread did not stop");
            }
        }
    }
}
