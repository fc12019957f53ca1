using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>How IICFast connections end: the server stopping, and the server process dying.</summary>
public class LifecycleTests
{
    [Fact]
    public async Task Stopping_the_server_closes_open_IICFast_connections_and_later_requests_fail_cleanly()
    {
        var hypervisor = TestNames.Hypervisor("stop");
        var directory = TestNames.SocketDirectory();
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseIicTransport(o =>
            {
                o.HypervisorName = hypervisor;
                o.SocketDirectory = directory;
                o.StartHypervisor = true;
            });
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("web"), l => l.Protocols = HttpProtocols.Http2));
            await using var app = builder.Build();
            app.MapGet("/", () => "up");
            await app.StartAsync();

            using var client = IicHttpHandler.CreateClient("web", new IicTransportOptions { HypervisorName = hypervisor, SocketDirectory = directory, ConnectTimeout = TimeSpan.Zero });
            client.Timeout = TimeSpan.FromSeconds(20);
            Assert.Equal("up", await client.GetStringAsync(new Uri("/", UriKind.Relative)));

            var watch = Stopwatch.StartNew();
            using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            {
                await app.StopAsync(stop.Token);
            }
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"StopAsync took {watch.Elapsed}.");
            await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri("/", UriKind.Relative)));
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }

    [Fact]
    public async Task A_gRPC_call_in_flight_fails_promptly_when_the_server_process_is_killed()
    {
        var hypervisor = TestNames.Hypervisor("kill");
        var directory = TestNames.SocketDirectory();
        // The hypervisor lives in this process, so it outlives the server and tells the client its peer died.
        using var embedded = IIC.Hardware.Hypervisor.Start(hypervisor, new IIC.Hardware.HypervisorOptions { SocketDirectory = directory });
        try
        {
            using var server = GreeterServerProcess.Start(
                "--Iic:HypervisorName=" + hypervisor, "--Iic:SocketDirectory=" + directory, "--Iic:StartHypervisor=false",
                "--Listen:0=iic://greeter", "--Listen:1=");
            using var channel = GrpcChannel.ForAddress("http://greeter", new GrpcChannelOptions
            {
                HttpHandler = IicHttpHandler.Create("greeter", new IicTransportOptions { HypervisorName = hypervisor, SocketDirectory = directory }),
            });
            var client = new Greeter.Greeter.GreeterClient(channel);
            using var chat = client.Chat();
            await chat.RequestStream.WriteAsync(new Greeter.HelloRequest { Name = "a" });
            Assert.True(await chat.ResponseStream.MoveNext(CancellationToken.None));

            var watch = Stopwatch.StartNew();
            server.Dispose(); // kill -9 of the whole process tree
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var error = await Assert.ThrowsAsync<RpcException>(() => chat.ResponseStream.MoveNext(bound.Token));
            Assert.False(bound.IsCancellationRequested, "The call ended by the test's own timeout, not by the peer's death.");
            Assert.NotEqual(StatusCode.Cancelled, error.StatusCode);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"The call took {watch.Elapsed} to fail.");
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }
}
