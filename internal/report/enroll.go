package report

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrAlreadyEnrolled is Enroll of a device that has a token, without rotate.
var ErrAlreadyEnrolled = errors.New("the device already has a token")

// ErrNotEnrolled is Revoke of a device without a token.
var ErrNotEnrolled = errors.New("the device has no token")

// Enroll makes a new token for each device and stores their hashes in the token Secrets of
// managerNamespace, one write per Secret. A device that has a token keeps it unless rotate
// (then the old token stops working at once). The tokens are returned once and kept nowhere.
func Enroll(ctx context.Context, c client.Client, managerNamespace string, devices []DeviceRef, rotate bool) (map[DeviceRef]string, error) {
	tokens := make(map[DeviceRef]string, len(devices))
	bySecret := map[string][]DeviceRef{}
	for _, d := range devices {
		tok, err := NewToken(d)
		if err != nil {
			return nil, err
		}
		tokens[d] = tok
		name := TokenSecretName(d)
		bySecret[name] = append(bySecret[name], d)
	}
	for name, devs := range bySecret {
		err := updateTokenSecret(ctx, c, managerNamespace, name, devs[0].Namespace, func(data map[string][]byte) error {
			for _, d := range devs {
				if _, ok := data[d.Name]; ok && !rotate {
					return fmt.Errorf("%s: %w (use --rotate to replace it)", d, ErrAlreadyEnrolled)
				}
				data[d.Name] = HashToken(tokens[d])
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

// Revoke deletes the device's token hash: its token is refused from then on.
func Revoke(ctx context.Context, c client.Client, managerNamespace string, d DeviceRef) error {
	return updateTokenSecret(ctx, c, managerNamespace, TokenSecretName(d), d.Namespace, func(data map[string][]byte) error {
		if _, ok := data[d.Name]; !ok {
			return fmt.Errorf("%s: %w", d, ErrNotEnrolled)
		}
		delete(data, d.Name)
		return nil
	})
}

// Enrolled says whether the device has a token.
func Enrolled(ctx context.Context, c client.Reader, managerNamespace string, d DeviceRef) (bool, error) {
	var s corev1.Secret
	err := c.Get(ctx, types.NamespacedName{Namespace: managerNamespace, Name: TokenSecretName(d)}, &s)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, ok := s.Data[d.Name]
	return ok, nil
}

// updateTokenSecret applies change to the Secret's data (creating the Secret when missing),
// retrying on write conflicts; change must be repeatable.
func updateTokenSecret(ctx context.Context, c client.Client, ns, name, deviceNamespace string, change func(map[string][]byte) error) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var s corev1.Secret
		err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &s)
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
		}
		if create {
			s = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
					LabelTokens: "true", LabelTokenNamespace: deviceNamespace,
				}},
				Type: corev1.SecretTypeOpaque,
			}
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		if err := change(s.Data); err != nil {
			return err
		}
		if create {
			err = c.Create(ctx, &s)
			if apierrors.IsAlreadyExists(err) {
				// Another enrollment created it first: read it again.
				return apierrors.NewConflict(corev1.Resource("secrets"), name, err)
			}
		} else {
			err = c.Update(ctx, &s)
		}
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("writing Secret %s/%s: %w", ns, name, err)
		}
		return err
	})
}
