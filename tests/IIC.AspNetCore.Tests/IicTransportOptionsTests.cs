using IIC.Hardware;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace IIC.AspNetCore.Tests;

/// <summary>The options pattern for the <c>Iic</c> section: binding, validation with errors that name key and value, and checks at host start.</summary>
public sealed class IicTransportOptionsTests
{
    [Fact]
    public void ReadFrom_binds_every_key_and_folds_the_channel_keys_into_the_channel_options()
    {
        var options = new IicTransportOptions().ReadFrom(Section(new()
        {
            ["Iic:HypervisorName"] = "hv1",
            ["Iic:PartitionName"] = "web-1",
            ["Iic:SocketDirectory"] = "/run/iic",
            ["Iic:StartHypervisor"] = "true",
            ["Iic:PreferInlineScheduling"] = "True",
            ["Iic:RingCapacity"] = "65536",
            ["Iic:WaitStrategy"] = "spin",
            ["Iic:ConnectTimeoutSeconds"] = "2.5",
        }));
        Assert.Equal("hv1", options.HypervisorName);
        Assert.Equal("web-1", options.PartitionName);
        Assert.Equal("/run/iic", options.SocketDirectory);
        Assert.True(options.StartHypervisor);
        Assert.True(options.PreferInlineScheduling);
        Assert.Equal(65536, options.ChannelOptions.RingCapacity);
        Assert.Equal(WaitStrategy.BusySpin, options.ChannelOptions.WaitStrategy);
        Assert.Equal(TimeSpan.FromSeconds(2.5), options.ConnectTimeout);
    }

    [Fact]
    public void The_buffer_size_keys_set_the_pipe_thresholds_with_resume_at_half_and_bad_ones_are_named()
    {
        var options = new IicTransportOptions().ReadFrom(Section(new()
        {
            ["Iic:MaxReadBufferSize"] = "262144",
            ["Iic:MaxWriteBufferSize"] = "0",
        }));
        Assert.Equal(262144, options.PipeOptions.InputPauseThreshold);
        Assert.Equal(131072, options.PipeOptions.InputResumeThreshold);
        Assert.Equal(0, options.PipeOptions.OutputPauseThreshold);
        options.PipeOptions.Validate();

        var bad = new IicTransportOptions();
        var error = Assert.Throws<OptionsValidationException>(() => bad.ReadFrom(Section(new() { ["Iic:MaxReadBufferSize"] = "-5" })));
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:MaxReadBufferSize = -5", StringComparison.Ordinal) && f.Contains("positive", StringComparison.Ordinal));
        Assert.Equal(IIC.Transport.IicPipeOptions.Default, bad.PipeOptions); // nothing applied

        var inconsistent = new IicTransportOptions { PipeOptions = IIC.Transport.IicPipeOptions.Default with { OutputResumeThreshold = 1 << 20 } };
        var result = new IicTransportOptionsValidator().Validate(null, inconsistent);
        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.StartsWith("Iic:PipeOptions:", StringComparison.Ordinal) && f.Contains("OutputResumeThreshold", StringComparison.Ordinal));
    }

    [Fact]
    public void Spin_for_reply_is_off_by_default_and_the_ReplySpinMicroseconds_key_sets_or_clears_it_and_bad_values_are_named()
    {
        Assert.Equal(TimeSpan.Zero, new IicTransportOptions().PipeOptions.ReplySpinLimit);

        var set = new IicTransportOptions().ReadFrom(Section(new() { ["Iic:ReplySpinMicroseconds"] = "250" }));
        Assert.Equal(TimeSpan.FromMicroseconds(250), set.PipeOptions.ReplySpinLimit);
        var off = new IicTransportOptions { PipeOptions = IIC.Transport.IicPipeOptions.Default with { ReplySpinLimit = TimeSpan.FromMilliseconds(1) } }
            .ReadFrom(Section(new() { ["Iic:ReplySpinMicroseconds"] = "0" }));
        Assert.Equal(TimeSpan.Zero, off.PipeOptions.ReplySpinLimit);

        foreach (var value in new[] { "-1", "2000000", "NaN" })
        {
            var bad = new IicTransportOptions();
            var error = Assert.Throws<OptionsValidationException>(() => bad.ReadFrom(Section(new() { ["Iic:ReplySpinMicroseconds"] = value })));
            Assert.Contains(error.Failures, f => f.StartsWith("Iic:ReplySpinMicroseconds = ", StringComparison.Ordinal) && f.Contains("1000000", StringComparison.Ordinal));
            Assert.Equal(IIC.Transport.IicPipeOptions.Default, bad.PipeOptions); // nothing applied
        }
    }

    [Fact]
    public void The_PreTouch_key_sets_or_clears_the_channels_pre_touch()
    {
        Assert.False(new IicTransportOptions().ChannelOptions.PreTouch);
        var set = new IicTransportOptions().ReadFrom(Section(new() { ["Iic:PreTouch"] = "true" }));
        Assert.True(set.ChannelOptions.PreTouch);
        var cleared = new IicTransportOptions { ChannelOptions = IIC.Transport.ChannelOptions.Default with { PreTouch = true } }
            .ReadFrom(Section(new() { ["Iic:PreTouch"] = "false" }));
        Assert.False(cleared.ChannelOptions.PreTouch);
        var kept = new IicTransportOptions { ChannelOptions = IIC.Transport.ChannelOptions.Default with { PreTouch = true } }
            .ReadFrom(Section(new() { ["Iic:RingCapacity"] = "65536" }));
        Assert.True(kept.ChannelOptions.PreTouch);
    }

    [Fact]
    public void A_value_of_the_wrong_type_names_the_key_and_the_value()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new IicTransportOptions().ReadFrom(Section(new() { ["Iic:StartHypervisor"] = "yes please" })));
        Assert.Contains("Iic:StartHypervisor", error.Message, StringComparison.Ordinal);
        Assert.Contains("yes please", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_hypervisor_name_is_held_to_the_socket_file_rule_while_a_partition_name_may_contain_a_slash()
    {
        var options = new IicTransportOptions();
        var error = Assert.Throws<OptionsValidationException>(() => options.ReadFrom(Section(new()
        {
            ["Iic:HypervisorName"] = "team/iicfast",
            ["Iic:PartitionName"] = "team/api",
        })));
        var failure = Assert.Single(error.Failures);
        Assert.StartsWith("Iic:HypervisorName = 'team/iicfast'", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Out_of_range_values_are_each_reported_with_key_value_and_what_is_allowed()
    {
        var options = new IicTransportOptions();
        var error = Assert.Throws<OptionsValidationException>(() => options.ReadFrom(Section(new()
        {
            ["Iic:HypervisorName"] = "bad name!",
            ["Iic:RingCapacity"] = "1000",
            ["Iic:WaitStrategy"] = "sometimes",
            ["Iic:ConnectTimeoutSeconds"] = "-1",
            ["Iic:SocketDirectory"] = "relative/dir",
        })));
        Assert.Equal(5, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:HypervisorName = 'bad name!'", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:RingCapacity = 1000: A ring capacity must be a power of two", StringComparison.Ordinal) && f.Contains("1024", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:WaitStrategy = 'sometimes'", StringComparison.Ordinal) && f.Contains("adaptive", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:ConnectTimeoutSeconds = -1", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Iic:SocketDirectory = 'relative/dir'", StringComparison.Ordinal));
        Assert.Equal(IicTransportOptions.DefaultChannelOptions, options.ChannelOptions); // nothing applied
    }

    [Fact]
    public async Task A_bad_value_stops_the_host_at_start_before_anything_attaches()
    {
        var directory = TestNames.SocketDirectory();
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Iic:HypervisorName"] = TestNames.Hypervisor("opts"),
                ["Iic:SocketDirectory"] = directory,
                ["Iic:StartHypervisor"] = "true",
                ["Iic:RingCapacity"] = "1000",
            });
            builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"));
            builder.WebHost.ConfigureKestrel(k => k.Listen(new IicEndPoint("opts"), l => l.Protocols = HttpProtocols.Http2));
            // Building resolves Kestrel and its transports, which read the options: it fails there or at StartAsync (ValidateOnStart).
            var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
            {
                await using var app = builder.Build();
                await app.StartAsync();
            });
            Assert.Contains("Iic:RingCapacity = 1000", error.Message, StringComparison.Ordinal);
            Assert.Empty(Directory.EnumerateFileSystemEntries(directory)); // no hypervisor socket: nothing started
        }
        finally
        {
            TestNames.DeleteDirectory(directory);
        }
    }

    [Fact]
    public void The_host_binds_the_section_and_code_configuration_applies_after_it()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Iic:HypervisorName"] = "from-config",
            ["Iic:RingCapacity"] = "131072",
            ["Iic:WaitStrategy"] = "adaptive",
        });
        builder.WebHost.UseIicTransport(builder.Configuration.GetSection("Iic"), o => o.PartitionName = "from-code");
        using var app = builder.Build();
        var options = app.Services.GetRequiredService<IOptions<IicTransportOptions>>().Value;
        Assert.Equal("from-config", options.HypervisorName);
        Assert.Equal("from-code", options.PartitionName);
        Assert.Equal(131072, options.ChannelOptions.RingCapacity);
        Assert.Equal(WaitStrategy.Adaptive, options.ChannelOptions.WaitStrategy);
        Assert.Same(options, app.Services.GetRequiredService<IicPartitionHost>().Options);
    }

    private static IConfiguration Section(Dictionary<string, string?> values)
        => new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection("Iic");
}
