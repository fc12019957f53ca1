using IIC.Hardware;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore.Tests;

/// <summary>Named <see cref="IicTransportOptions"/>: one set per section, validated at start under its own section path, picked per HttpClient.</summary>
public sealed class IicNamedOptionsTests
{
    [Fact]
    public async Task Two_named_options_bound_from_two_sections_resolve_to_their_own_values()
    {
        using var host = Host(new()
        {
            ["IicClients:fast:HypervisorName"] = "hv-fast",
            ["IicClients:fast:RingCapacity"] = "65536",
            ["IicClients:fast:WaitStrategy"] = "spin",
            ["IicClients:big:HypervisorName"] = "hv-big",
            ["IicClients:big:RingCapacity"] = "4194304",
            ["IicClients:big:ConnectTimeoutSeconds"] = "12",
        }, services =>
        {
            services.AddIicTransportOptions("fast", Configuration(services).GetSection("IicClients:fast"));
            services.AddIicTransportOptions("big", Configuration(services).GetSection("IicClients:big")).Configure(o => o.PartitionName = "from-code");
        });
        await host.StartAsync(); // validates both names
        var monitor = host.Services.GetRequiredService<IOptionsMonitor<IicTransportOptions>>();
        var fast = monitor.Get("fast");
        var big = monitor.Get("big");
        Assert.Equal("hv-fast", fast.HypervisorName);
        Assert.Equal(65536, fast.ChannelOptions.RingCapacity);
        Assert.Equal(WaitStrategy.BusySpin, fast.ChannelOptions.WaitStrategy);
        Assert.Equal(TimeSpan.FromSeconds(5), fast.ConnectTimeout);
        Assert.Null(fast.PartitionName);
        Assert.Equal("hv-big", big.HypervisorName);
        Assert.Equal(4194304, big.ChannelOptions.RingCapacity);
        Assert.Equal(WaitStrategy.Park, big.ChannelOptions.WaitStrategy);
        Assert.Equal(TimeSpan.FromSeconds(12), big.ConnectTimeout);
        Assert.Equal("from-code", big.PartitionName);
        Assert.Equal("iicfast", monitor.CurrentValue.HypervisorName); // the default name is untouched
        await host.StopAsync();
    }

    [Fact]
    public async Task A_bad_value_in_a_named_section_fails_at_start_naming_the_section_the_key_the_value_and_what_is_allowed()
    {
        using var host = Host(new()
        {
            ["IicClients:fast:HypervisorName"] = "hv-fast",
            ["IicClients:big:RingCapacity"] = "1000",
            ["IicClients:big:WaitStrategy"] = "sometimes",
        }, services =>
        {
            services.AddIicTransportOptions("fast", Configuration(services).GetSection("IicClients:fast"));
            services.AddIicTransportOptions("big", Configuration(services).GetSection("IicClients:big"));
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Equal("big", error.OptionsName);
        Assert.Equal(2, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.StartsWith("IicClients:big:RingCapacity = 1000: A ring capacity must be a power of two", StringComparison.Ordinal) && f.Contains("1024", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("IicClients:big:WaitStrategy = 'sometimes'", StringComparison.Ordinal) && f.Contains("adaptive", StringComparison.Ordinal));
        Assert.Contains("IicClients:big:RingCapacity = 1000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_server_keeps_the_default_name_next_to_named_ones()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Iic:HypervisorName"] = "from-iic",
            ["Iic:RingCapacity"] = "131072",
            ["IicClients:fast:HypervisorName"] = "hv-fast",
        });
        builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"));
        builder.Services.AddIicTransportOptions("fast", builder.Configuration.GetSection("IicClients:fast"));
        using var app = builder.Build();
        var monitor = app.Services.GetRequiredService<IOptionsMonitor<IicTransportOptions>>();
        var server = app.Services.GetRequiredService<IOptions<IicTransportOptions>>().Value;
        Assert.Equal("from-iic", server.HypervisorName);
        Assert.Equal(131072, server.ChannelOptions.RingCapacity);
        Assert.Equal("from-iic", monitor.Get(Options.DefaultName).HypervisorName); // IOptionsMonitor and IOptions cache apart: equal values
        Assert.Same(server, app.Services.GetRequiredService<IicPartitionHost>().Options);
        Assert.Equal("hv-fast", monitor.Get("fast").HypervisorName);
        Assert.Equal(IicTransportOptions.DefaultChannelOptions, monitor.Get("fast").ChannelOptions);
    }

    [Fact]
    public async Task A_bad_value_in_the_default_section_is_still_reported_under_its_own_path_next_to_named_ones()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Iic:ConnectTimeoutSeconds"] = "0",
            ["IicClients:fast:HypervisorName"] = "hv-fast",
        });
        builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"));
        builder.Services.AddIicTransportOptions("fast", builder.Configuration.GetSection("IicClients:fast"));
        // Building resolves Kestrel and its transports, which read the options: it fails there or at StartAsync (ValidateOnStart).
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = builder.Build();
            await app.StartAsync();
        });
        Assert.Equal(Options.DefaultName, error.OptionsName);
        Assert.Equal("Iic:ConnectTimeoutSeconds = 0: use a positive number of seconds, e.g. 5.", Assert.Single(error.Failures));
    }

    [Fact]
    public async Task A_named_HttpClient_reaches_the_service_through_its_own_named_options()
    {
        var hypervisor = TestNames.Hypervisor("named");
        var directory = TestNames.SocketDirectory();
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Iic:HypervisorName"] = hypervisor,
                ["Iic:SocketDirectory"] = directory,
                ["Iic:PartitionName"] = "named-server",
                ["Iic:StartHypervisor"] = "true",
                ["IicClients:right:HypervisorName"] = hypervisor,
                ["IicClients:right:SocketDirectory"] = directory,
                ["IicClients:right:RingCapacity"] = "65536",
                ["IicClients:wrong:HypervisorName"] = hypervisor + "-absent",
                ["IicClients:wrong:SocketDirectory"] = directory,
                ["IicClients:wrong:ConnectTimeoutSeconds"] = "1",
            });
            builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"));
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("named"), l => l.Protocols = HttpProtocols.Http2));
            builder.Services.AddIicTransportOptions("right", builder.Configuration.GetSection("IicClients:right"));
            builder.Services.AddIicTransportOptions("wrong", builder.Configuration.GetSection("IicClients:wrong"));
            builder.Services.AddHttpClient("right").UseIicTransport("named", optionsName: "right");
            builder.Services.AddHttpClient("wrong").UseIicTransport("named", optionsName: "wrong");
            await using var app = builder.Build();
            app.MapGet("/hello", () => "hello");
            await app.StartAsync();
            try
            {
                var factory = app.Services.GetRequiredService<IHttpClientFactory>();
                using var right = factory.CreateClient("right");
                Assert.Equal(new Uri("http://named/"), right.BaseAddress);
                Assert.Equal("hello", await right.GetStringAsync(new Uri("/hello", UriKind.Relative)));
                using var wrong = factory.CreateClient("wrong"); // same service, a hypervisor that does not exist
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => wrong.GetStringAsync(new Uri("/hello", UriKind.Relative)));
            }
            finally
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await app.StopAsync(stop.Token);
            }
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }

    private static IHost Host(Dictionary<string, string?> values, Action<IServiceCollection> configure)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new());
        builder.Configuration.AddInMemoryCollection(values);
        builder.Services.AddSingleton<IConfiguration>(builder.Configuration);
        configure(builder.Services);
        return builder.Build();
    }

    private static IConfiguration Configuration(IServiceCollection services)
        => (IConfiguration)services.Last(d => d.ServiceType == typeof(IConfiguration)).ImplementationInstance!;
}
