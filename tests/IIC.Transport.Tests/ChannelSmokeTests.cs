using IIC.Hardware;
using IIC.Transport;

namespace IIC.Transport.Tests;

public class ChannelSmokeTests
{
    [Fact]
    public async Task ReceiveAsync_completes_when_a_message_arrives_after_the_receiver_parked()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { WaitStrategy = WaitStrategy.Park, RingCapacity = 4096 });
        using (a)
        using (b)
        {
            for (var i = 0; i < 200; i++)
            {
                var buffer = new byte[16];
                var pending = b.ReceiveAsync(buffer);
                a.Send(BitConverter.GetBytes(i));
                var length = await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(4, length);
                Assert.Equal(i, BitConverter.ToInt32(buffer));
            }
        }
    }

    [Fact]
    public async Task Stream_round_trip_and_end_of_stream()
    {
        var (a, b) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        var data = new byte[100_000];
        new Random(1).NextBytes(data);
        var reader = Task.Run(async () =>
        {
            using var ms = new MemoryStream();
            await b.AsStream().CopyToAsync(ms);
            return ms.ToArray();
        });
        await a.AsStream().WriteAsync(data);
        a.Dispose();
        var received = await reader.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(data, received);
        b.Dispose();
    }
}
