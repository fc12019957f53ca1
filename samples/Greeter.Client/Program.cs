// The greeter client. `dotnet run --project samples/Greeter.Client` calls the greeter over IICFast (the server must run:
// `dotnet run --project samples/Greeter.Server`). The one switch between shared memory and the network is configuration:
//   --Services:greeter=http://127.0.0.1:5000   the same calls over TCP (e.g. to a server on another machine)
using System.Diagnostics;
using Greeter;
using Grpc.Core;
using Grpc.Net.Client;
using IIC.AspNetCore;
using Microsoft.Extensions.Configuration;

var configuration = new ConfigurationBuilder()
    .AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Services:greeter"] = "iic://greeter",
        ["Iic:HypervisorName"] = "iicfast",
    })
    .AddEnvironmentVariables("GREETER_")
    .AddCommandLine(args)
    .Build();

var greeter = IicServiceAddress.FromConfiguration(configuration, "greeter");
var iic = new IicTransportOptions().ReadFrom(configuration.GetSection("Iic"));
using var channel = GrpcChannel.ForAddress(greeter.Address, new GrpcChannelOptions { HttpHandler = greeter.CreateHandler(iic) });
var client = new Greeter.Greeter.GreeterClient(channel);
Console.WriteLine($"greeter at {greeter} ({(greeter.IsIic ? "IICFast, shared memory" : "TCP")})");

HelloReply reply;
try
{
    reply = await client.SayHelloAsync(new HelloRequest { Name = "newcomer" });
}
catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
{
    Console.Error.WriteLine($"The greeter is not reachable at {greeter}: {e.Status.Detail}");
    Console.Error.WriteLine("Is the server running? Start it in another terminal: dotnet run --project samples/Greeter.Server");
    return 1;
}
Console.WriteLine($"unary:      {reply.Message}");

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
        Console.WriteLine($"bidi:       {chat.ResponseStream.Current.Message}");
    }
    await chat.RequestStream.CompleteAsync();
}

var watch = Stopwatch.StartNew();
const int Calls = 1000;
for (var i = 0; i < Calls; i++)
{
    await client.SayHelloAsync(new HelloRequest { Name = "x" });
}
Console.WriteLine($"{Calls} unary calls: {watch.Elapsed.TotalMicroseconds / Calls:0.0} µs each on average");
return 0;
