using System.Reflection;
using System.Text;
using IIC.Hardware;
using IIC.Transport;
using Xunit.Abstractions;

namespace IIC.Reliability.Tests;

/// <summary>
/// Bad input at every public entry point of the API a user touches: a reflection sweep passes null for every
/// non-nullable reference parameter (one at a time, the others valid) and expects ArgumentNullException naming it;
/// negative, oversized and out-of-range values get the documented exception with a message that says what to
/// do, and the object stays usable afterwards.
/// </summary>
[Collection(nameof(SerialReliabilityTests))]
public sealed class BadInputTests(ITestOutputHelper output) : IDisposable
{
    private static readonly Type[] s_types =
        [typeof(IicChannel), typeof(IicListener), typeof(IicChannelGroup), typeof(Partition), typeof(Hypervisor), typeof(SharedWindow), typeof(WindowEndpoint), typeof(GrantedConnection)];

    private readonly ReliabilityHost _host = ReliabilityHost.Start();

    public void Dispose() => _host.Dispose();

    [Fact]
    public void Null_for_any_non_nullable_reference_parameter_of_any_public_method_or_constructor_is_ArgumentNullException_naming_it()
    {
        var service = ReliabilityHost.NewService();
        using var listener = IicListener.Listen(_host.Partition, service);
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        using var endpoint = new WindowEndpoint(window, 0, WaitStrategy.Park);
        var group = new IicChannelGroup(_host.Partition);
        var instances = new Dictionary<Type, object>
        {
            [typeof(IicChannel)] = first, [typeof(IicListener)] = listener, [typeof(IicChannelGroup)] = group, [typeof(Partition)] = _host.Partition,
            [typeof(Hypervisor)] = _host.Hypervisor!, [typeof(SharedWindow)] = window, [typeof(WindowEndpoint)] = endpoint,
        };
        var nullability = new NullabilityInfoContext();
        var failures = new StringBuilder();
        var checkedCount = 0;
        try
        {
            foreach (var type in s_types)
            {
                var members = type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
                    .Where(m => !m.IsSpecialName && !m.IsGenericMethodDefinition && m.Name != "Dispose" && m.Name != "DisposeAsync")
                    .Cast<MethodBase>()
                    .Concat(type.GetConstructors());
                foreach (var member in members)
                {
                    var parameters = member.GetParameters();
                    if (parameters.Any(p => p.ParameterType.IsByRef || p.ParameterType.IsPointer || p.ParameterType.IsByRefLike))
                    {
                        continue; // spans and pointers cannot be passed by reflection (and cannot be null)
                    }
                    for (var i = 0; i < parameters.Length; i++)
                    {
                        var parameter = parameters[i];
                        if (parameter.ParameterType.IsValueType || nullability.Create(parameter).WriteState != NullabilityState.NotNull)
                        {
                            continue;
                        }
                        var args = parameters.Select(p => p == parameter ? null : Sample(p.ParameterType, instances)).ToArray();
                        var target = member.IsStatic || member is ConstructorInfo ? null : instances.GetValueOrDefault(type);
                        if (target is null && !member.IsStatic && member is not ConstructorInfo)
                        {
                            continue; // GrantedConnection: no public way to make one without a peer (its methods take no references)
                        }
                        checkedCount++;
                        try
                        {
                            var result = member is ConstructorInfo ctor ? ctor.Invoke(args) : member.Invoke(target, args);
                            if (result is ValueTask<IicChannel> valueTask)
                            {
                                result = valueTask.AsTask();
                            }
                            if (result is Task task)
                            {
                                // An async entry point may report the null through its task: wait (bounded) and look.
                                if (!IIC.Tests.WaitFor.TryCondition(() => task.IsCompleted, TimeSpan.FromSeconds(10)) || task.Exception?.InnerException is not ArgumentNullException faulted || faulted.ParamName != parameter.Name)
                                {
                                    failures.AppendLine($"{type.Name}.{member.Name}({parameter.Name}: null) returned a task that did not fail with ArgumentNullException ({task.Status})");
                                }
                                continue;
                            }
                            (result as IDisposable)?.Dispose();
                            failures.AppendLine($"{type.Name}.{member.Name}({parameter.Name}: null) did not throw");
                        }
                        catch (TargetInvocationException e) when (e.InnerException is ArgumentNullException ane)
                        {
                            if (ane.ParamName != parameter.Name)
                            {
                                failures.AppendLine($"{type.Name}.{member.Name}({parameter.Name}: null) named '{ane.ParamName}'");
                            }
                        }
                        catch (TargetInvocationException e)
                        {
                            failures.AppendLine($"{type.Name}.{member.Name}({parameter.Name}: null) threw {e.InnerException?.GetType().Name}: {e.InnerException?.Message}");
                        }
                    }
                }
            }
            output.WriteLine($"{checkedCount} (member, parameter) pairs checked");
            Assert.True(checkedCount > 15, $"the sweep found only {checkedCount} cases: is reflection seeing the API?");
            Assert.True(failures.Length == 0, failures.ToString());

            // Everything swept is still usable.
            first.Send([1, 2, 3]);
            Assert.Equal(3, second.Receive(new byte[16]));
            Assert.Null(group.WaitAny(TimeSpan.Zero));
        }
        finally
        {
            first.Dispose();
            second.Dispose();
        }
    }

    [Fact]
    public void Negative_oversized_and_out_of_range_arguments_say_what_to_do_and_the_objects_stay_usable()
    {
        var (first, second) = IicChannel.CreatePair(new ChannelOptions { RingCapacity = 4096 });
        using (first)
        using (second)
        {
            var buffer = new byte[64];
            Expect<ArgumentOutOfRangeException>(() => first.TrySend(buffer, TimeSpan.FromMilliseconds(-5)), "TrySend with a negative timeout", "TimeSpan.Zero to try once");
            Expect<ArgumentOutOfRangeException>(() => first.TryReceive(buffer, out _, TimeSpan.FromMilliseconds(-5)), "TryReceive with a negative timeout", "TimeSpan.Zero to try once");
            Expect<ArgumentOutOfRangeException>(() => first.TrySend(new byte[first.MaxClaimLength + 1]), "TrySend above a record", "use Send");
            Expect<ArgumentOutOfRangeException>(() => first.TryClaim(-1, out _), "TryClaim(-1)", "Send");
            Expect<ArgumentOutOfRangeException>(() => first.TryClaim(first.MaxClaimLength + 1, out _), "TryClaim above a record", "Send");
            first.Send(new byte[100]);
            Expect<MessageTooLargeException>(() => second.Receive(new byte[10]), "Receive into a small buffer", "100");
            Assert.Equal(100, second.Receive(new byte[100])); // the message stayed unread and both ends still work
            Assert.True(first.TrySend(buffer, TimeSpan.FromSeconds(1)));
            Assert.True(second.TryReceive(buffer, out var length, TimeSpan.FromSeconds(1)));
            Assert.Equal(64, length);
        }
        Expect<ArgumentOutOfRangeException>(() => IicChannel.CreatePair(new ChannelOptions { RingCapacity = 1000 }), "a ring of 1000 bytes", "power of two");
        Expect<ArgumentOutOfRangeException>(() => IicChannel.CreatePair(new ChannelOptions { RingCapacity = -4096 }), "a negative ring", "power of two");
        Expect<ArgumentOutOfRangeException>(() => IicChannel.Connect(_host.Partition, "svc", new ChannelOptions { RingCapacity = 3 << 20 }), "Connect with a bad ring", "power of two");
        Expect<ArgumentException>(() => IicListener.Listen(_host.Partition, ""), "Listen on an empty name", "");
        Expect<ArgumentException>(() => IicListener.Listen(_host.Partition, new string('s', 5000)), "Listen on a 5000-character name", "");
        Expect<HypervisorException>(() => IicChannel.Connect(_host.Partition, "nobody-offers-this", null, TimeSpan.FromMilliseconds(200)), "Connect to an unknown service", "nobody-offers-this");
        using var window = SharedWindow.Create(WindowOptions.WithCapacity(4096));
        Expect<ArgumentOutOfRangeException>(() => window.GetRing(2), "GetRing(2)", "0 and 1");
        Expect<ArgumentOutOfRangeException>(() => window.GetInterruptPage(-1), "GetInterruptPage(-1)", "0 and 1");
        Expect<ArgumentOutOfRangeException>(() => new WindowEndpoint(window, 2, WaitStrategy.Park).Dispose(), "WindowEndpoint side 2", "");
        Expect<ArgumentOutOfRangeException>(() => WaitStrategy.SpinThenPark(TimeSpan.FromMilliseconds(-1)), "a negative spin budget", "TimeSpan.Zero");
        Expect<FormatException>(() => WaitStrategy.Parse("fast"), "an unknown strategy", "spin, spinpark");
        // The partition and hypervisor still serve after all of that.
        var service = ReliabilityHost.NewService();
        using var listener = IicListener.Listen(_host.Partition, service);
        using var client = IicChannel.Connect(_host.Partition, service, new ChannelOptions { RingCapacity = 4096 });
        using var server = listener.Accept(TimeSpan.FromSeconds(10));
        client.Send([9]);
        Assert.Equal(1, server.Receive(new byte[4]));
    }

    private void Expect<TException>(Action action, string what, string hint)
        where TException : Exception
    {
        var e = Assert.ThrowsAny<TException>(action);
        output.WriteLine($"{what}: {e.GetType().Name}: {e.Message}");
        Assert.True(e.Message.Length > 30, $"{what}: the message '{e.Message}' is too short to say what to do");
        Assert.Contains(hint, e.Message, StringComparison.Ordinal);
    }

    private object? Sample(Type type, Dictionary<Type, object> instances)
    {
        if (instances.TryGetValue(type, out var instance))
        {
            return instance;
        }
        if (type == typeof(string))
        {
            return "sample";
        }
        if (type == typeof(ChannelOptions))
        {
            return new ChannelOptions { RingCapacity = 4096 };
        }
        if (type == typeof(WaitStrategy))
        {
            return WaitStrategy.Park;
        }
        if (type == typeof(WindowOptions))
        {
            return WindowOptions.WithCapacity(4096);
        }
        if (type == typeof(HypervisorOptions))
        {
            return new HypervisorOptions { SocketDirectory = _host.SocketDirectory };
        }
        if (type == typeof(TimeSpan) || type == typeof(TimeSpan?))
        {
            return TimeSpan.FromMilliseconds(100);
        }
        if (type == typeof(int))
        {
            return 4096;
        }
        return type.IsValueType ? Activator.CreateInstance(type) : null;
    }
}
