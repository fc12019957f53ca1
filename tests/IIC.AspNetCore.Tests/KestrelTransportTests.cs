using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore.Tests;

/// <summary>Plain HTTP/2 with HttpClient against Kestrel serving an IicEndPoint next to a TCP endpoint (one process, two partitions).</summary>
public sealed class KestrelTransportTests : IAsyncLifetime
{
    private readonly string _hypervisor = TestNames.Hypervisor("kestrel");
    private readonly string _directory = TestNames.SocketDirectory();
    private WebApplication? _app;
    private Uri? _tcpAddress;

    private IicTransportOptions ClientOptions => new() { HypervisorName = _hypervisor, SocketDirectory = _directory };

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseIicTransport(o =>
        {
            o.HypervisorName = _hypervisor;
            o.SocketDirectory = _directory;
            o.PartitionName = "web";
            o.StartHypervisor = true;
        });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(new IicEndPoint("web"), l => l.Protocols = HttpProtocols.Http2);
            k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2);
        });
        _app = builder.Build();
        _app.MapGet("/hello", (HttpContext context) => $"hello over {context.Connection.LocalIpAddress?.ToString() ?? "iic"} with {context.Request.Protocol}");
        _app.MapPost("/echo", async (HttpContext context) =>
        {
            // Read everything first: HttpClient reads a response only after sending the whole request body, so a
            // streaming echo of a body larger than the HTTP/2 windows would deadlock on any transport.
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            context.Response.ContentType = "application/octet-stream";
            await context.Response.Body.WriteAsync(body.GetBuffer().AsMemory(0, (int)body.Length));
        });
        await _app.StartAsync();
        var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        _tcpAddress = new Uri(addresses.Single(a => a.StartsWith("http://127.0.0.1:", StringComparison.Ordinal)));
        Assert.Contains("iic://web", addresses); // as clients write it, not Kestrel's http://iic://web
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _app.StopAsync(stop.Token);
            await _app.DisposeAsync();
        }
        TestNames.DeleteDirectory(_directory);
    }

    [Fact]
    public async Task The_IIC_Transport_instruments_live_on_the_hosts_IMeterFactory()
    {
        using var iic = IicHttpHandler.CreateClient("web", ClientOptions);
        using var response = await iic.GetAsync(new Uri("/hello", UriKind.Relative)); // the connection stays open (pooled)
        response.EnsureSuccessStatusCode();
        var factory = _app!.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        long? channels = null;
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == IIC.Transport.TransportMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "iic.channels.active")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                if (tags.Length == 1 && (string?)tags[0].Value == "web")
                {
                    channels = value;
                }
            });
            listener.Start();
            listener.RecordObservableInstruments();
        }
        Assert.True(channels >= 2, $"iic.channels.active{{iic.service=web}} on the host's meter: {channels}"); // Kestrel's end and the client's end
    }

    [Fact]
    public async Task HttpClient_speaks_HTTP2_over_IICFast_next_to_a_TCP_endpoint_of_the_same_server()
    {
        using var iic = IicHttpHandler.CreateClient("web", ClientOptions);
        using var response = await iic.GetAsync(new Uri("/hello", UriKind.Relative));
        response.EnsureSuccessStatusCode();
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("hello over iic with HTTP/2", await response.Content.ReadAsStringAsync());

        using var tcp = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var overTcp = await tcp.GetStringAsync(new Uri(_tcpAddress!, "/hello"));
        Assert.Equal("hello over 127.0.0.1 with HTTP/2", overTcp);
    }

    [Fact]
    public async Task Large_bodies_and_many_concurrent_requests_arrive_intact()
    {
        using var client = IicHttpHandler.CreateClient("web", ClientOptions);
        var body = new byte[5_000_000]; // larger than the 1 MiB rings: back pressure both ways
        new Random(9).NextBytes(body);
        using var content = new ByteArrayContent(body);
        using var response = await client.PostAsync(new Uri("/echo", UriKind.Relative), content);
        Assert.Equal(body, await response.Content.ReadAsByteArrayAsync());

        var texts = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ => client.GetStringAsync(new Uri("/hello", UriKind.Relative))));
        Assert.All(texts, t => Assert.Equal("hello over iic with HTTP/2", t));
    }

    [Fact]
    public async Task An_address_from_configuration_picks_IICFast_or_TCP_for_the_same_request_code()
    {
        foreach (var text in new[] { "iic://web", _tcpAddress!.ToString().TrimEnd('/') })
        {
            var address = IicServiceAddress.Parse(text);
            using var client = address.CreateHttpClient(ClientOptions);
            var reply = await client.GetStringAsync(new Uri("/hello", UriKind.Relative));
            Assert.Equal(address.IsIic ? "hello over iic with HTTP/2" : "hello over 127.0.0.1 with HTTP/2", reply);
        }
    }

    [Fact]
    public async Task A_client_closing_its_connection_ends_the_server_connection_and_new_ones_still_work()
    {
        for (var i = 0; i < 5; i++)
        {
            using var client = IicHttpHandler.CreateClient("web", ClientOptions);
            Assert.Equal("hello over iic with HTTP/2", await client.GetStringAsync(new Uri("/hello", UriKind.Relative)));
        }
        var host = IicPartitionHost.Shared(ClientOptions);
        Assert.True(host.GetPartition().IsHypervisorConnected);
    }

    [Fact]
    public async Task A_service_nobody_offers_fails_the_request_with_the_hypervisor_message()
    {
        using var client = IicHttpHandler.CreateClient("nobody", new IicTransportOptions { HypervisorName = _hypervisor, SocketDirectory = _directory, ConnectTimeout = TimeSpan.Zero });
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetStringAsync(new Uri("/hello", UriKind.Relative)));
        Assert.Contains("nobody", error.ToString(), StringComparison.Ordinal);
    }
}
