using IIC.Hardware;
using IIC.Native;
using static IIC.Tests.TestSupport;

namespace IIC.Transport.Tests;

/// <summary>
/// Issue 16: two adaptive receivers that ping-pong on one CPU (what the kernel left native gRPC's two reader threads in,
/// for whole runs) must notice that their data only comes when they give the CPU away, and switch to yielding at once,
/// instead of each spinning 20 µs per hop. Both threads are pinned to the same CPU, so the situation is real and certain.
/// </summary>
public sealed class WaiterCpuRuleTests
{
    [Fact]
    public void Adaptive_receivers_sharing_one_cpu_learn_it_and_keep_delivering()
    {
        const int RoundTrips = 2000;
        var cpu = CpuAffinity.GetForCurrentThread()[0];
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.Adaptive);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        var echo = new Thread(() =>
        {
            CpuAffinity.SetForCurrentThread([cpu]);
            var buffer = new byte[64];
            for (var i = 0; i < RoundTrips; i++)
            {
                if (!b.TryReceive(buffer, out var length, DeadlineIn(30)) || !b.Send(buffer.AsSpan(0, length), DeadlineIn(30)))
                {
                    return; // the main thread's receive times out and reports it
                }
            }
        })
        { IsBackground = true, Name = "echo" };
        var contendedSeen = false;
        Exception? failure = null;
        var pinger = new Thread(() =>
        {
            try
            {
                CpuAffinity.SetForCurrentThread([cpu]);
                echo.Start(); // it pins itself to the same CPU
                var message = new byte[32];
                var buffer = new byte[64];
                for (var i = 0; i < RoundTrips; i++)
                {
                    BitConverter.TryWriteBytes(message, i);
                    Assert.True(a.Send(message, DeadlineIn(30)), $"round trip {i}: no room");
                    Assert.True(a.TryReceive(buffer, out var length, DeadlineIn(30)), $"round trip {i}: no echo within 30 s");
                    Assert.Equal(32, length);
                    Assert.Equal(i, BitConverter.ToInt32(buffer));
                    contendedSeen |= a.Waiter.Learning.Contended && b.Waiter.Learning.Contended;
                }
            }
#pragma warning disable CA1031 // reported on the test thread below
            catch (Exception e)
            {
                failure = e;
            }
#pragma warning restore CA1031
        })
        { Name = "pinger" };
        pinger.Start();
        Assert.True(pinger.Join(TimeSpan.FromSeconds(120)), "the pinned ping-pong did not finish in 120 s");
        Assert.True(failure is null, "the pinned ping-pong failed: " + failure);
        Assert.True(echo.Join(TimeSpan.FromSeconds(30)), "the echo thread did not end");
        Assert.True(contendedSeen, $"two receivers on one CPU never both learned it (a: contended {a.Waiter.Learning.Contended}, spin hits {a.Waiter.SpinHits}, parks {a.Waiter.Parks}; b: contended {b.Waiter.Learning.Contended}, spin hits {b.Waiter.SpinHits}, parks {b.Waiter.Parks})");
    }
}
