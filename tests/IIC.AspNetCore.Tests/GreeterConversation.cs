using Google.Protobuf;
using Greeter;
using Grpc.Core;
using Grpc.Net.Client;
using IIC.AspNetCore;
using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore.Tests;

/// <summary>
/// The application code of the gRPC tests: it reads "Services:greeter" and "Iic" from configuration, opens a
/// GrpcChannel with the handler IicServiceAddress chose, and makes unary, server-streaming and bidirectional calls.
/// It never knows whether it talks over IICFast or TCP.
/// </summary>
internal static class GreeterConversation
{
    public static async Task RunAsync(IConfiguration configuration)
    {
        var greeter = IicServiceAddress.FromConfiguration(configuration, "greeter");
        var iic = new IicTransportOptions().ReadFrom(configuration.GetSection("Iic"));
        using var channel = GrpcChannel.ForAddress(greeter.Address, new GrpcChannelOptions { HttpHandler = greeter.CreateHandler(iic) });
        var client = new Greeter.Greeter.GreeterClient(channel);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // unary, including a payload larger than one ring record (fragmented by HTTP/2 frames and by the channel)
        var reply = await client.SayHelloAsync(new HelloRequest { Name = "unary" }, cancellationToken: timeout.Token);
        Assert.Equal("Hello unary", reply.Message);
        var big = ByteString.CopyFrom(Enumerable.Range(0, 3_000_000).Select(i => (byte)(i * 31)).ToArray());
        var bigReply = await client.SayHelloAsync(new HelloRequest { Name = "big", Payload = big }, new CallOptions(cancellationToken: timeout.Token).WithWaitForReady(false));
        Assert.Equal(big, bigReply.Payload);

        // server streaming
        using (var stream = client.SayHellos(new HelloRequest { Name = "stream", Count = 200 }, cancellationToken: timeout.Token))
        {
            var expected = 0;
            await foreach (var item in stream.ResponseStream.ReadAllAsync(timeout.Token))
            {
                Assert.Equal(expected, item.Index);
                Assert.Equal($"Hello stream #{expected}", item.Message);
                expected++;
            }
            Assert.Equal(200, expected);
        }

        // bidirectional streaming: one reply per request, in lock step
        using (var chat = client.Chat(cancellationToken: timeout.Token))
        {
            for (var i = 0; i < 50; i++)
            {
                await chat.RequestStream.WriteAsync(new HelloRequest { Name = $"n{i}" }, timeout.Token);
                Assert.True(await chat.ResponseStream.MoveNext(timeout.Token));
                Assert.Equal($"Hello n{i}", chat.ResponseStream.Current.Message);
                Assert.Equal(i, chat.ResponseStream.Current.Index);
            }
            await chat.RequestStream.CompleteAsync();
            Assert.False(await chat.ResponseStream.MoveNext(timeout.Token));
        }

        // many calls at once on the one HTTP/2 connection
        var calls = Enumerable.Range(0, 64).Select(i => client.SayHelloAsync(new HelloRequest { Name = $"c{i}" }, cancellationToken: timeout.Token).ResponseAsync);
        var replies = await Task.WhenAll(calls);
        Assert.Equal(Enumerable.Range(0, 64).Select(i => $"Hello c{i}"), replies.Select(r => r.Message));
    }
}
