using System.Net;
using Greeter;
using IIC.AspNetCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IIC.GrpcPerf;

/// <summary>The server process: the stock greeter on three endpoints of one Kestrel (IICFast, TCP loopback, Unix socket).</summary>
internal static class PerfServer
{
    public static async Task RunAsync(string hypervisor, string socketDirectory, string unixSocket, bool inline, string wait)
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
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(new IicEndPoint("greeter"), l => l.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
            k.ListenUnixSocket(unixSocket, l => l.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddGrpc();
        var app = builder.Build();
        app.MapGrpcService<GreeterService>();
        await app.StartAsync();
        var echoPort = RawEcho.Serve(app.Services.GetRequiredService<IicPartitionHost>().GetPartition(), IicTransportOptions.DefaultChannelOptions with { WaitStrategy = IIC.Hardware.WaitStrategy.Parse(wait) });
        Console.WriteLine($"echo {echoPort}");
        foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            Console.WriteLine($"listening {address}");
        }
        Console.WriteLine("ready");
        await Console.In.ReadLineAsync(); // the client closes stdin when it is done
        await app.StopAsync();
    }
}
