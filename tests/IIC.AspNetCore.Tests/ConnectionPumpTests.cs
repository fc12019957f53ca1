using System.Buffers;
using IIC.Transport;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// The Kestrel connection's pumps on their own: bytes in order both ways, and no allocation that grows with the
/// message (pooled pipe memory, records claimed in place). What remains per round trip is per wake-up, not per byte:
/// the thread-pool work item that continues Kestrel's reader (the default application scheduler) and this test's own
/// awaits; DuplexPipeTests shows the receive thread itself allocates nothing per message.
/// </summary>
[Collection(nameof(ConnectionPumpTests))]
[CollectionDefinition(nameof(ConnectionPumpTests), DisableParallelization = true)]
public class ConnectionPumpTests
{
    [Theory]
    [InlineData(100)]
    [InlineData(60_000)] // several ring records each way (the ring is 64 KiB, a record at most 16 KiB)
    public async Task Messages_cross_both_pumps_in_order_with_allocations_independent_of_their_size(int size)
    {
        var (client, serverSide) = IicChannel.CreatePair(IicTransportOptions.DefaultChannelOptions with { RingCapacity = 64 * 1024 });
        var connection = new IicConnection(serverSide, new IicEndPoint("pump"), IicPipeOptions.Default);
        connection.Start();
        try
        {
            var message = new byte[size];
            var back = new byte[size];
            new Random(size).NextBytes(message);
            async Task RoundTrips(int count)
            {
                for (var i = 0; i < count; i++)
                {
                    message[0] = (byte)i;
                    client.Send(message);
                    // server side: read what the receive pump delivered, write it back through the send pump
                    var remaining = message.Length;
                    while (remaining > 0)
                    {
                        var result = await connection.Transport.Input.ReadAsync();
                        var take = (int)Math.Min(remaining, result.Buffer.Length);
                        foreach (var segment in result.Buffer.Slice(0, take))
                        {
                            connection.Transport.Output.Write(segment.Span);
                        }
                        connection.Transport.Input.AdvanceTo(result.Buffer.GetPosition(take));
                        remaining -= take;
                    }
                    await connection.Transport.Output.FlushAsync();
                    var got = 0;
                    while (got < back.Length)
                    {
                        got += client.Receive(back.AsSpan(got));
                    }
                    Assert.Equal((byte)i, back[0]);
                    Assert.True(message.AsSpan().SequenceEqual(back), "the bytes came back changed");
                }
            }

            await RoundTrips(1000); // warm up: pools, tiering, state machines
            var before = GC.GetTotalAllocatedBytes(precise: true);
            const int Count = 2000;
            await RoundTrips(Count);
            var perMessage = (double)(GC.GetTotalAllocatedBytes(precise: true) - before) / Count;
            // Whole process, both directions. Copying a message into a fresh buffer anywhere would cost >= 2 x size.
            Assert.True(perMessage < 1024, $"{perMessage:0.0} B allocated per round trip of {size} B each way");
        }
        finally
        {
            await connection.DisposeAsync();
            client.Dispose();
        }
    }
}
