using Microsoft.Extensions.Configuration;

namespace IIC.AspNetCore.Tests;

public class IicServiceAddressTests
{
    [Fact]
    public void An_iic_address_names_the_service_and_gives_an_http_uri_with_its_name()
    {
        var address = IicServiceAddress.Parse("iic://greeter");
        Assert.True(address.IsIic);
        Assert.Equal("greeter", address.Service);
        Assert.Equal(new Uri("http://greeter"), address.Address);
        using var handler = address.CreateHandler();
        Assert.NotNull(Assert.IsType<SocketsHttpHandler>(handler).ConnectCallback);
    }

    [Fact]
    public void A_network_address_is_used_as_is_with_an_ordinary_handler()
    {
        var address = IicServiceAddress.Parse("http://10.1.2.3:5000");
        Assert.False(address.IsIic);
        Assert.Null(address.Service);
        Assert.Equal(new Uri("http://10.1.2.3:5000"), address.Address);
        using var handler = address.CreateHandler();
        Assert.Null(Assert.IsType<SocketsHttpHandler>(handler).ConnectCallback);
    }

    [Theory]
    [InlineData("greeter")]
    [InlineData("iic://")]
    [InlineData("iic://a/b")]
    [InlineData("ftp://host")]
    public void Anything_else_is_refused_with_both_forms_in_the_message(string text)
    {
        var error = Assert.Throws<FormatException>(() => IicServiceAddress.Parse(text));
        Assert.Contains("iic://", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Configuration_holds_the_switch_under_Services()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Services:greeter"] = "iic://greeter" }).Build();
        Assert.True(IicServiceAddress.FromConfiguration(configuration, "greeter").IsIic);
        var missing = Assert.Throws<InvalidOperationException>(() => IicServiceAddress.FromConfiguration(configuration, "other"));
        Assert.Contains("Services:other", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Transport_options_read_their_configuration_section()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Iic:HypervisorName"] = "h",
            ["Iic:SocketDirectory"] = "/tmp/x",
            ["Iic:StartHypervisor"] = "true",
            ["Iic:RingCapacity"] = "65536",
            ["Iic:ConnectTimeoutSeconds"] = "2",
        }).Build();
        var options = new IicTransportOptions().ReadFrom(configuration.GetSection("Iic"));
        Assert.Equal("h", options.HypervisorName);
        Assert.Equal("/tmp/x", options.SocketDirectory);
        Assert.True(options.StartHypervisor);
        Assert.Equal(65536, options.ChannelOptions.RingCapacity);
        Assert.Equal(TimeSpan.FromSeconds(2), options.ConnectTimeout);
    }
}
