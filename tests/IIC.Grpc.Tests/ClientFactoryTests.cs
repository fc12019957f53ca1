using Grpc.Core;
using Grpc.Core.Interceptors;
using IIC.Grpc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace IIC.Grpc.Tests;

/// <summary>
/// Generated clients from the container (AddIicGrpcClient, as Grpc.Net.ClientFactory's AddGrpcClient for HTTP/2): the
/// address, set or configured, picks the path; clients of one name share one channel, which the container disposes;
/// interceptors resolved from the container run on every call; a missing or malformed address is an exception that says
/// how to fix it.
/// </summary>
[Collection(TesterGroup.Name)]
public sealed class ClientFactoryTests(TesterFixture fixture)
{
    private static readonly TimeSpan s_watchdog = TimeSpan.FromSeconds(30);

    /// <summary>Adds the request header the Tester echoes in its response headers ("x-test" -> "echo-header").</summary>
    private sealed class HeaderInterceptor : Interceptor
    {
        public int Calls;

        public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
        {
            Interlocked.Increment(ref Calls);
            var headers = new Metadata { { "x-test", "from-the-container" } };
            return continuation(request, new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers)));
        }
    }

    private static ServiceProvider Build(Action<IServiceCollection> register, Dictionary<string, string?>? configuration = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(configuration ?? []).Build());
        services.AddSingleton<HeaderInterceptor>();
        register(services);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    private void UseFixtureHypervisor(IicGrpcClientFactoryOptions options)
    {
        options.Channel.Native.Transport.HypervisorName = fixture.HypervisorName;
        options.Channel.Native.Transport.SocketDirectory = fixture.SocketDirectory;
    }

    [Theory]
    [InlineData("native")]
    [InlineData("http2-tcp")]
    public async Task A_client_from_the_container_goes_where_its_configured_address_says_through_its_interceptors(string path)
    {
        using var provider = Build(
            services => services.AddIicGrpcClient<Tester.TesterClient>("tester", UseFixtureHypervisor).AddInterceptor<HeaderInterceptor>(),
            new() { ["Services:tester"] = fixture.AddressOf(path) });

        var first = provider.GetRequiredService<Tester.TesterClient>();
        var second = provider.GetRequiredService<Tester.TesterClient>();
        Assert.NotSame(first, second); // transient clients...
        var channel = provider.GetRequiredService<GrpcClientChannels>().Get("tester");
        Assert.Same(channel, provider.GetRequiredService<GrpcClientChannels>().Get("tester")); // ...over one channel
        Assert.Equal(path == "native", channel.IsNative);

        using var call = first.UnaryAsync(new Request { Text = "hi" }, deadline: DateTime.UtcNow + s_watchdog);
        Assert.Equal("hi", (await call).Text);
        Assert.Equal("from-the-container", (await call.ResponseHeadersAsync).GetValue("echo-header"));
        Assert.Equal("again", (await second.UnaryAsync(new Request { Text = "again" }, deadline: DateTime.UtcNow + s_watchdog)).Text);
        Assert.Equal(2, provider.GetRequiredService<HeaderInterceptor>().Calls);
    }

    [Fact]
    public async Task The_container_disposes_the_channel_and_a_native_call_after_that_is_Unavailable()
    {
        var provider = Build(services => services.AddIicGrpcClient<Tester.TesterClient>(o =>
        {
            o.Address = fixture.AddressOf("native");
            UseFixtureHypervisor(o);
        }));
        var client = provider.GetRequiredService<Tester.TesterClient>();
        Assert.Equal("up", (await client.UnaryAsync(new Request { Text = "up" }, deadline: DateTime.UtcNow + s_watchdog)).Text);

        provider.Dispose();

        var e = await Assert.ThrowsAsync<RpcException>(() => client.UnaryAsync(new Request { Text = "late" }, deadline: DateTime.UtcNow + s_watchdog).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, e.StatusCode);
        Assert.Throws<ObjectDisposedException>(() => provider.GetRequiredService<Tester.TesterClient>());
    }

    [Fact]
    public void A_client_without_an_address_fails_to_resolve_saying_how_to_set_one_and_works_once_configured()
    {
        var configuration = new Dictionary<string, string?>();
        using var provider = Build(services => services.AddIicGrpcClient<Tester.TesterClient>("nowhere", UseFixtureHypervisor), configuration);

        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Tester.TesterClient>());
        Assert.Contains("Services:nowhere", e.Message, StringComparison.Ordinal);
        Assert.Contains("iic://SERVICE", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_address_is_refused_at_registration_and_nothing_is_registered()
    {
        var services = new ServiceCollection();
        var e = Assert.Throws<FormatException>(() => services.AddIicGrpcClient<Tester.TesterClient>("tcp://somewhere:5000"));
        Assert.Contains("iic://", e.Message, StringComparison.Ordinal);
        Assert.Empty(services);
    }
}
