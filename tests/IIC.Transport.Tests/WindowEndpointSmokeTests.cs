using IIC.Hardware;
using static IIC.Tests.TestSupport;

namespace IIC.Transport.Tests;

[Collection(nameof(IsolatedTests))] // a parked receiver must never need its park timeout
public class WindowEndpointSmokeTests
{
    [Fact]
    public async Task Messages_of_every_size_up_to_16_MiB_cross_a_64_KiB_ring_intact()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(64 * 1024));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.Adaptive);
        using var b = new WindowEndpoint(window, 1, WaitStrategy.Adaptive);
        int[] sizes = [0, 1, 7, 8, 9, 100, 16 * 1024 - 8, 16 * 1024, 100_000, 16 * 1024 * 1024];
        var sender = Task.Factory.StartNew(() =>
        {
            foreach (var size in sizes)
            {
                var message = new byte[size];
                for (var i = 0; i < size; i++)
                {
                    message[i] = (byte)(i * 31 + size);
                }
                Assert.True(a.Send(message, DeadlineIn(TimeSpan.FromSeconds(30))));
            }
        }, TaskCreationOptions.LongRunning);
        var buffer = new byte[16 * 1024 * 1024];
        foreach (var size in sizes)
        {
            Assert.True(b.TryReceive(buffer, out var length, DeadlineIn(TimeSpan.FromSeconds(30))));
            Assert.Equal(size, length);
            for (var i = 0; i < size; i++)
            {
                if (buffer[i] != (byte)(i * 31 + size))
                {
                    Assert.Fail($"message of {size} bytes differs at {i}");
                }
            }
        }
        await sender.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_parked_receiver_is_woken_by_the_doorbell_and_close_ends_its_receive()
    {
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        using var a = new WindowEndpoint(window, 0, WaitStrategy.Park);
        var b = new WindowEndpoint(window, 1, WaitStrategy.Park);
        var receiver = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[64];
            var got = 0;
            for (var i = 0; i < 1000; i++)
            {
                Assert.True(b.TryReceive(buffer, out var length, DeadlineIn(TimeSpan.FromSeconds(10))));
                Assert.Equal(4, length);
                Assert.Equal(i, BitConverter.ToInt32(buffer));
                got++;
            }
            Assert.Throws<IicChannelClosedException>(() => b.TryReceive(buffer, out _, DeadlineIn(TimeSpan.FromSeconds(10))));
            return got;
        }, TaskCreationOptions.LongRunning);
        for (var i = 0; i < 1000; i++)
        {
            Assert.True(a.Send(BitConverter.GetBytes(i), DeadlineIn(TimeSpan.FromSeconds(10))));
        }
        a.Dispose();
        Assert.Equal(1000, await receiver.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, b.Waiter.ParkTimeouts);
        b.Dispose();
    }
}
