using System.Net;
using Greeter;
using IIC.AspNetCore;
using IIC.Grpc.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IIC.GrpcPerf;

/// <summary>
/// The server process: the stock greeter natively over IICFast (service <c>greeter-native</c>, IIC.Grpc) and through one
/// Kestrel over HTTP/2 on three endpoints (IICFast service <c>greeter</c>, TCP loopback, Unix socket).
/// </summary>
internal static class PerfServer
{
    public const string NativeService = "greeter-native";
    public const string Http2Service = "greeter";

    public static async Task RunAsync(string hypervisor, string socketDirectory, string unixSocket, bool inline, string wait, bool nativeInline, string nativeWait)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseIicTransport(o =>
        {
            o.HypervisorName = hypervisor;
            o.SocketDirectory = socketDirectory;
            o.PartitionName = "perf-server";
            o.StartHypervisor = true;
            o.PreferInlineScheduling = inline;
            o.ChannelOptions = o.ChannelOptions with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(wait) };
            Http2IicSetup.Apply(o, client: false);
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(new IicEndPoint(Http2Service), l => l.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            k.ListenUnixSocket(unixSocket, l => l.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc();
        builder.Services.AddIicGrpcServer(o =>
        {
            o.ServiceName = NativeService;
            o.ChannelOptions = IIC.Transport.ChannelOptions.Default with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(nativeWait) };
            o.RunHandlersInline = nativeInline; // the greeter's handlers never block
        }).AddService<GreeterService>();
        var app = builder.Build();
        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            Console.WriteLine($"listening {address}");
        }
        Console.WriteLine("ready");
        await Console.In.ReadLineAsync(); // the client closes stdin when it is done
        // The server's share of what could stop a call for tens of µs (the client prints its own per test).
        await Console.Error.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"server: gen0 GCs {GC.CollectionCount(0)}, methods JIT-compiled {System.Runtime.JitInfo.GetCompiledMethodCount()}, {GC.GetTotalAllocatedBytes(precise: true)} B allocated over the whole run"));
        await app.StopAsync();
    }
}
