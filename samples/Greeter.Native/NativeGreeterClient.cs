using System.Diagnostics;
using Greeter;
using Grpc.Core;
using IIC.Grpc;

/// <summary>
/// Calls the greeter through whatever address configuration names: <c>iic://greeter</c> takes the native path,
/// <c>http://HOST:PORT</c> a standard GrpcChannel. Everything after the first line is ordinary gRPC client code.
/// </summary>
internal static class NativeGreeterClient
{
    public static async Task<int> RunAsync(IConfiguration configuration)
    {
        using var channel = GrpcServiceChannel.FromConfiguration(configuration, "greeter", new GrpcServiceChannelOptions
        {
            Native = { Transport = new IIC.AspNetCore.IicTransportOptions().ReadFrom(configuration.GetSection("Iic")) },
        });
        var client = new Greeter.Greeter.GreeterClient(channel.CallInvoker);
        Console.WriteLine($"greeter at {channel.Address} ({(channel.IsNative ? "native IICFast, no HTTP/2" : "HTTP/2 over TCP")})");

        HelloReply reply;
        try
        {
            reply = await client.SayHelloAsync(new HelloRequest { Name = "newcomer" }, deadline: DateTime.UtcNow.AddSeconds(10));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
        {
            Console.Error.WriteLine($"The greeter is not reachable at {channel.Address}: {e.Status.Detail}");
            Console.Error.WriteLine("Is the server running? Start it in another terminal: dotnet run --project samples/Greeter.Native -- server");
            return 1;
        }
        Console.WriteLine($"unary:         {reply.Message}");

        using (var stream = client.SayHellos(new HelloRequest { Name = "stream", Count = 3 }))
        {
            await foreach (var item in stream.ResponseStream.ReadAllAsync())
            {
                Console.WriteLine($"server stream: {item.Message}");
            }
        }

        using (var chat = client.Chat())
        {
            foreach (var name in new[] { "Ada", "Grace", "Linus" })
            {
                await chat.RequestStream.WriteAsync(new HelloRequest { Name = name });
                await chat.ResponseStream.MoveNext(CancellationToken.None);
                Console.WriteLine($"bidi:          {chat.ResponseStream.Current.Message}");
            }
            await chat.RequestStream.CompleteAsync();
        }

        const int Calls = 2000;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Calls; i++)
        {
            await client.SayHelloAsync(new HelloRequest { Name = "x" });
        }
        Console.WriteLine($"{Calls} unary calls: {watch.Elapsed.TotalMicroseconds / Calls:0.0} µs each on average");
        return 0;
    }
}
